"""PostgreSQL: a fire's two round trips as one call each, ``pmf_fire_read`` and ``pmf_apply``.

A fire on PostgreSQL reads what it needs in one round trip and sends its writes with its COMMIT
in one more (``core.raw``). Sent as SQL, each of the seven writes (its old deadline's steps
cancelled and the deadline closed, the new deadline and its steps, the versioned move, the audit
entry and the chain head's move) costs the client a quoting pass and the server a parse and a
plan. ``pmf_apply`` takes them as one jsonb array of writes, each ``{"op": NAME, ...its
parameters}``, and runs each as a statement of its own whose plan PL/pgSQL keeps for the
session: one parameter to quote, one statement to parse.

Each write is the Core statement of the same name in ``pmf_engine.core`` (``Statement(...,
server=NAME)``), with the same columns and conditions; ``tests/test_raw_path.py`` writes a
council's cycle both ways and compares every table. The audit entry's hash is computed in
Python before the call (with the key that never reaches the database), from the chain head the
fire's first round trip read and locked: nothing here hashes. ``move_instance`` refuses a stale
version as ``pmf_move_instance`` (migration 0011) does, raising ``pmf_stale`` (SQLSTATE 40001),
so the COMMIT sent after it does nothing; a write it does not know is refused, by name, and so
is one lacking a value its columns take (it would be NULL here where Core writes the column's
default): nothing of the transaction is written.

``pmf_fire_read`` makes the first round trip's reads (``core.prefetch``) and returns them as one
jsonb document: the instance row (locked ``FOR UPDATE``), the actor's roles, the watched
triggers the actor fired on it before (when asked), the role holders of its organisation (the
reminders' recipients) and, when asked, the chain head (locked, after the instance as before)
with an id reserved for the new deadline and a sequence number for the audit entry. The client
parses one JSON text instead of six result sets.

Both functions run with their caller's rights (``SECURITY INVOKER``): the application role may
do through them only what it may do with the statements themselves.

Revision ID: 0026
Revises: 0025
"""

from __future__ import annotations

from alembic import op

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None

PG_APPLY = """
CREATE OR REPLACE FUNCTION pmf_apply(p_writes jsonb) RETURNS void
LANGUAGE plpgsql SECURITY INVOKER SET search_path = pg_catalog, public AS $$
DECLARE
    w jsonb;
    v_needs text[];
BEGIN
    FOR w IN SELECT value FROM jsonb_array_elements(p_writes) LOOP
        -- Every value a write's columns take must be given: one left out would be NULL here,
        -- where Core would have written the column's default.
        v_needs := CASE w->>'op'
            WHEN 'cancel_steps' THEN ARRAY['instance']
            WHEN 'close_deadlines' THEN ARRAY['instance', 'now']
            WHEN 'new_deadline' THEN ARRAY['id', 'instance_id', 'organisation_id', 'state', 'rule',
                                           'due_at', 'meeting_ids', 'problem', 'opened_at']
            WHEN 'new_steps' THEN ARRAY['rows']
            WHEN 'move_instance' THEN ARRAY['instance_id', 'read_version', 'new_state', 'new_version',
                                            'new_context', 'new_entered_at']
            WHEN 'audit_entry' THEN ARRAY['seq', 'chain', 'chain_seq', 'at', 'organisation', 'instance',
                                          'event', 'trigger', 'from_state', 'to_state', 'actor', 'role',
                                          'reason', 'data', 'prev_hash', 'hash', 'as_of', 'alg']
            WHEN 'move_head' THEN ARRAY['head_chain', 'new_seq', 'new_hash', 'new_at']
        END;
        IF v_needs IS NOT NULL AND NOT w ?& v_needs THEN
            RAISE EXCEPTION 'pmf_apply: write % lacks %', w->>'op',
                (SELECT string_agg(k, ', ') FROM unnest(v_needs) AS k WHERE NOT w ? k)
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        IF w->>'op' = 'new_steps' AND (jsonb_typeof(w->'rows') IS DISTINCT FROM 'array' OR EXISTS (
                SELECT 1 FROM jsonb_array_elements(w->'rows') AS r(item)
                 WHERE NOT (r.item ?& ARRAY['deadline_id', 'instance_id', 'organisation_id', 'kind', 'rung',
                                          'due_at', 'recipients', 'status']))) THEN
            RAISE EXCEPTION 'pmf_apply: write new_steps lacks rows, each with every column (%)', w->'rows'
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        CASE w->>'op'
        WHEN 'cancel_steps' THEN
            UPDATE steps SET status = 'cancelled'
             WHERE deadline_id IN (SELECT id FROM deadlines
                                    WHERE instance_id = (w->>'instance')::integer AND closed_at IS NULL)
               AND status IN ('pending', 'claimed');
        WHEN 'close_deadlines' THEN
            UPDATE deadlines SET closed_at = (w->>'now')::timestamp
             WHERE instance_id = (w->>'instance')::integer AND closed_at IS NULL;
        WHEN 'new_deadline' THEN
            INSERT INTO deadlines (id, instance_id, organisation_id, state, rule, due_at, meeting_ids,
                                   problem, opened_at)
            SELECT r.id, r.instance_id, r.organisation_id, r.state, r.rule, r.due_at, r.meeting_ids,
                   r.problem, r.opened_at
              FROM jsonb_to_record(w) AS r(id integer, instance_id integer, organisation_id integer,
                   state varchar, rule varchar, due_at timestamp, meeting_ids jsonb, problem text,
                   opened_at timestamp);
        WHEN 'new_steps' THEN
            INSERT INTO steps (deadline_id, instance_id, organisation_id, kind, rung, due_at, recipients,
                               status)
            SELECT r.deadline_id, r.instance_id, r.organisation_id, r.kind, r.rung, r.due_at, r.recipients,
                   r.status
              FROM jsonb_to_recordset(w->'rows') AS r(deadline_id integer, instance_id integer,
                   organisation_id integer, kind varchar, rung integer, due_at timestamp,
                   recipients jsonb, status varchar);
        WHEN 'move_instance' THEN
            UPDATE instances
               SET state = w->>'new_state', version = (w->>'new_version')::integer,
                   context = w->'new_context', entered_at = (w->>'new_entered_at')::timestamp
             WHERE id = (w->>'instance_id')::integer AND version = (w->>'read_version')::integer;
            IF NOT FOUND THEN
                RAISE EXCEPTION 'pmf_stale: instance % is no longer at version %',
                    w->>'instance_id', w->>'read_version' USING ERRCODE = 'serialization_failure';
            END IF;
        WHEN 'audit_entry' THEN
            INSERT INTO audit_entries (seq, chain, chain_seq, at, organisation, instance, event, trigger,
                                       from_state, to_state, actor, role, reason, data, prev_hash, hash,
                                       as_of, alg)
            SELECT r.seq, r.chain, r.chain_seq, r.at, r.organisation, r.instance, r.event, r.trigger,
                   r.from_state, r.to_state, r.actor, r.role, r.reason, r.data, r.prev_hash, r.hash,
                   r.as_of, r.alg
              FROM jsonb_to_record(w) AS r(seq integer, chain varchar, chain_seq integer, at varchar,
                   organisation varchar, instance varchar, event varchar, trigger varchar,
                   from_state varchar, to_state varchar, actor varchar, role varchar, reason text,
                   data text, prev_hash varchar, hash varchar, as_of varchar, alg varchar);
        WHEN 'move_head' THEN
            UPDATE audit_heads SET chain_seq = (w->>'new_seq')::integer, hash = w->>'new_hash',
                   at = w->>'new_at'
             WHERE chain = w->>'head_chain';
        ELSE
            RAISE EXCEPTION 'pmf_apply: no write named %', w->>'op' USING ERRCODE = 'invalid_parameter_value';
        END CASE;
    END LOOP;
END
$$
"""


PG_FIRE_READ = """
CREATE OR REPLACE FUNCTION pmf_fire_read(p_key varchar, p_username varchar, p_watched varchar[],
                                         p_head boolean) RETURNS jsonb
LANGUAGE plpgsql SECURITY INVOKER SET search_path = pg_catalog, public AS $$
DECLARE
    v_instance jsonb;
    v_org integer;
    v_service integer;
    v_chain varchar := split_part(p_key, '/', 1);
    v_head jsonb := NULL;
    v_ids jsonb := NULL;
BEGIN
    SELECT jsonb_build_array(i.id, i.key, i.state, i.version, i.context, i.entered_at, i.period,
                             i.workflow_version_id, o.code, s.code, i.organisation_id, i.service_id,
                             o.holiday_subdivision, i.parent_id),
           i.organisation_id, i.service_id
      INTO v_instance, v_org, v_service
      FROM instances i
      JOIN organisations o ON o.id = i.organisation_id
      LEFT JOIN services s ON s.id = i.service_id
     WHERE i.key = p_key
       FOR UPDATE OF i;
    IF v_instance IS NULL THEN
        RETURN NULL;
    END IF;
    IF p_head THEN
        SELECT jsonb_build_array(h.chain_seq, h.hash, e.at)
          INTO v_head
          FROM audit_heads h
          LEFT JOIN audit_entries e ON e.chain = h.chain AND e.chain_seq = h.chain_seq
         WHERE h.chain = v_chain
           FOR UPDATE OF h;
        IF v_head IS NOT NULL THEN
            v_ids := jsonb_build_array(nextval(pg_get_serial_sequence('deadlines', 'id')),
                                       nextval(pg_get_serial_sequence('audit_entries', 'seq')));
        END IF;
    END IF;
    RETURN jsonb_build_object(
        'instance', v_instance,
        'roles', (SELECT coalesce(jsonb_agg(jsonb_build_array(a.active, r.role, ro.code, rs.code)), '[]')
                    FROM actors a
                    LEFT JOIN role_assignments r ON r.actor_id = a.id
                    LEFT JOIN organisations ro ON ro.id = r.organisation_id
                    LEFT JOIN services rs ON rs.id = r.service_id
                   WHERE a.username = p_username),
        'prior', CASE WHEN p_watched IS NULL THEN NULL ELSE
                 (SELECT coalesce(jsonb_agg(DISTINCT e.trigger), '[]')
                    FROM audit_entries e
                   WHERE e.chain = v_chain AND e.instance = p_key AND e.event = 'fired'
                     AND e.actor = p_username AND e.trigger = ANY (p_watched)) END,
        'holders', (SELECT coalesce(jsonb_agg(jsonb_build_array(
                        (SELECT a.username FROM actors a WHERE a.id = r.actor_id AND a.active IS true),
                        r.role, r.service_id)), '[]')
                      FROM role_assignments r
                     WHERE r.organisation_id = v_org AND (r.service_id IS NULL OR r.service_id = v_service)),
        'head', v_head,
        'ids', v_ids);
END
$$
"""


def upgrade() -> None:
    """Bring the schema forward to this revision."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_APPLY)
        op.execute(PG_FIRE_READ)


def downgrade() -> None:
    """Take the schema back to the revision before this one."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION pmf_fire_read(varchar, varchar, varchar[], boolean)")
        op.execute("DROP FUNCTION pmf_apply(jsonb)")
