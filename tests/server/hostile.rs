//! Hostile input: limits, resource safety and access control under attack
//! (filled in by the hostile-input work).
