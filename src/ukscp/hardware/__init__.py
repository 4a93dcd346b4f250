"""Hardware behind small capability interfaces; drivers implement what their device can."""
