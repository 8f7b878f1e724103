-- The thumbnail of each image blob (NULL thumb: none can be made), made once per blob.
CREATE TABLE thumbnails (
    blob   TEXT PRIMARY KEY,
    thumb  TEXT,
    width  INTEGER NOT NULL,
    height INTEGER NOT NULL,
    size   INTEGER NOT NULL
) WITHOUT ROWID;
