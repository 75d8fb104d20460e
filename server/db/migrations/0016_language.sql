-- The language a person reads Traybell in (shared/i18n.py's LANGUAGES); null: the browser's on
-- the pages, the server's default (TRAYBELL_DEFAULT_LANGUAGE) in emails and pushes.
ALTER TABLE preferences ADD COLUMN language text CHECK (language IN ('en', 'hi'));
