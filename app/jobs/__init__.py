"""Training jobs: requests, their SQLite records, the child process that trains, and the manager between them."""
