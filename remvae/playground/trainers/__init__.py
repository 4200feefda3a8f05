"""Registered trainers."""
