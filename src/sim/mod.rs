//! The simulated Genesys Cloud org (filled in by the simulator work).
