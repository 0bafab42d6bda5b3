"""Imported by test_workers' Ahead process only: whether a process has it tells who did."""
