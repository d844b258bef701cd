-- A postings table with one good row and one whose spec is not JSON (a trailing comma).
CREATE TABLE postings (key TEXT PRIMARY KEY, spec TEXT NOT NULL, updated_at TEXT NOT NULL);
INSERT INTO postings VALUES ('analyst', '{"title": "Data Analyst", "description": "Numbers.", "workplace": "remote", "remote_country": "United States", "employment_type": "full_time", "level": "mid", "department": "Analyst", "salary": {"min": 80000, "max": 95000}, "channels": ["careers-page"], "boards": {"hirempire": {}}}', '2025-01-06T09:00:00Z');
INSERT INTO postings VALUES ('designer', '{"title": "Product Designer", "workplace": "remote",}', '2025-01-06T09:00:00Z');
