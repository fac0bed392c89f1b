"""Benchmarking against the peers (faiss, torch, numpy, scikit-learn) with a float64 oracle for
every side, and ``hubness-fast bench --data`` on a user's file. Imports the engine only."""
