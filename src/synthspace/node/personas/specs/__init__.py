"""Locale spec data files (ja_JP.json, en_US.json) and the scripts that build them."""
