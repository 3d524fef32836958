//! fleetfile
