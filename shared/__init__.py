"""Code both halves use: wire models, privacy rules, where Traybell keeps its files."""
