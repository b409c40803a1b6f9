"""A music library scanned into a database: discovery, the SQLite store, the scan pipeline
(decode workers, batched inference, one writer), playlists, file tags and the Ray variant."""
