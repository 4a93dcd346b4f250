"""The charger's links to other systems than its back end (OpenADR for DSR)."""
