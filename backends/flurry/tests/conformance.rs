//! The shared conformance suite (backends/conformance) run against FlurryStore.

store_conformance::conformance_suite!(store_flurry::FlurryStore);
