"""The chip: pure firmware state machine, secure NVM emulation and the simulated chip."""
