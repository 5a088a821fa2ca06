"""The SQL registry: tables, queries, saving, and the database connection."""
