-- One row per ticket_id: the latest landed state of each ticket, typed. Counts that are
-- not whole numbers and timestamps that do not parse become null next to their raw text.
-- The SQL is in macros/staging.sql, because the incremental run of int_tickets_enriched
-- stages only the tickets it recomputes.

{{ stage_tickets(source('landing', 'tickets')) }}
