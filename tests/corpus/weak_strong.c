int overridable(void) { return 40; }
