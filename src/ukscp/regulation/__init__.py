"""Regulation 11 and its neighbours: the randomised delay, default mode and DSR."""
