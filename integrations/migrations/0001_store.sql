-- Firebreak's shared store (integrations/pgstore.py, docs/store.md). Applied once, in order, under an advisory lock.

-- Artefact contents, content-addressed: the sha256 is the one the evidence manifest shows for the same bytes.
CREATE TABLE blobs (
    sha256  text PRIMARY KEY,
    size    bigint NOT NULL,
    content bytea NOT NULL
);

-- Whole files by relative path ("INC-2026-0001/ticket.json"); replacing a file points it at another blob.
CREATE TABLE files (
    path       text PRIMARY KEY,
    sha256     text NOT NULL REFERENCES blobs (sha256),
    written_at timestamptz NOT NULL DEFAULT now()
);

-- Append-once logs (comms archive, actions, ticket updates, the Langfuse deploy log): one row per key per log.
CREATE TABLE log_lines (
    seq         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    path        text NOT NULL,
    key         text NOT NULL,
    line        text NOT NULL,
    appended_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (path, key)
);

-- The incident-number ledger: one number per incident chain, gap-free per year.
CREATE TABLE incident_numbers (
    chain_id     text PRIMARY KEY,
    number       text NOT NULL UNIQUE,
    year         integer NOT NULL,
    seq          integer NOT NULL,
    allocated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (year, seq)
);

-- Personal API tokens: only the token's sha256 is kept.
CREATE TABLE personal_tokens (
    id         text PRIMARY KEY,
    person     text NOT NULL,
    sha256     text NOT NULL UNIQUE,
    created_at timestamptz NOT NULL
);
