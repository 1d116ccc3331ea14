//! The shared conformance suite (backends/conformance) run against SccStore.

store_conformance::conformance_suite!(store_scc::SccStore);
