-- Speakers (no accounts: the unguessable id is the credential) and their rehearsals.
CREATE TABLE speakers (
    id TEXT PRIMARY KEY NOT NULL,
    created_at_ms INTEGER NOT NULL,
    -- JSON array of goals: [{"metric": "fillers_per_minute", "max": 3}, ...]
    goals_json TEXT NOT NULL DEFAULT '[]'
);

CREATE TABLE rehearsals (
    -- Insertion order: breaks ties of recorded_at_ms.
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    -- Public id, random; also the idempotency key of a retried write.
    id TEXT NOT NULL UNIQUE,
    speaker_id TEXT NOT NULL REFERENCES speakers (id) ON DELETE CASCADE,
    -- When the analysis finished (not when a retried write landed), Unix ms.
    recorded_at_ms INTEGER NOT NULL,
    title TEXT,
    language TEXT NOT NULL,
    duration_sec REAL NOT NULL,
    -- The report's id (content hash of the upload).
    report_id TEXT NOT NULL,
    -- The tracked numbers only (small): what the progress view reads.
    metrics_json TEXT NOT NULL,
    -- The whole report as answered: history survives cache eviction.
    report_json TEXT NOT NULL
);

CREATE INDEX rehearsals_by_speaker ON rehearsals (speaker_id, recorded_at_ms, seq);
