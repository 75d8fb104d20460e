"""What differs per operating system: where the token lives, start at login, app identity."""
