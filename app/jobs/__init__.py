"""Training jobs: requests, the seams to their storage (ports.py), the training process, and the manager."""
