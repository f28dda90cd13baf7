"""Drivers for real systems; each depends only on runtime.driver and its own client library."""
