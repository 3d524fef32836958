-- How far each accounting journal (the append-only log the accounting server acknowledges
-- from) has been folded into the tables above; written in the same transaction as the folded
-- rows, so a restart resumes folding exactly there.
CREATE TABLE accounting_journal (
    journal TEXT PRIMARY KEY,
    folded  BIGINT NOT NULL
);
