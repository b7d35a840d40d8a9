"""Scoring: turning model responses into extracted answers and scores."""
