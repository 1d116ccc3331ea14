//! The one list of backends.
//!
//! [`for_each_backend!`](crate::for_each_backend) names every backend once:
//! its short name (`--backend`, reports, test modules), the
//! [`BackendKind`](crate::BackendKind) variant and its `Store` type.
//! `BackendKind`, the binary's backend choice
//! ([`with_backend!`](crate::with_backend)), the per-backend test stamping,
//! the benches and the fuzz targets all expand from it, and the scripts
//! read it from this file. Adding a backend is one crate plus one line
//! here (and its dependency line in `Cargo.toml`).

pub use store_epoch::EpochStore;
pub use store_flurry::FlurryStore;
pub use store_rwlock::RwLockStore;
pub use store_scc::SccStore;

/// Call `$callback! { [$args...]; name Variant "doc" Store, ... }` with
/// every backend. The first is the default.
#[macro_export]
macro_rules! for_each_backend {
    ($cb:tt $(:: $cbs:tt)* $(, [$($args:tt)*])?) => {
        $cb $(:: $cbs)* ! {
            [$($($args)*)?];
            rwlock Rwlock "64 shards of `RwLock<HashMap>`: the baseline." $crate::backends::RwLockStore,
            flurry Flurry "The flurry crate (Java's ConcurrentHashMap)." $crate::backends::FlurryStore,
            scc Scc "scc's HashMap." $crate::backends::SccStore,
            epoch Epoch "FlashKV's own lock-free map on crossbeam-epoch." $crate::backends::EpochStore,
        }
    };
}

/// Evaluate `$body` with the type alias `$S` naming the `Store` of backend
/// `$kind` (a [`BackendKind`](crate::BackendKind)): the one runtime choice,
/// made at the edge, with everything below monomorphized.
#[macro_export]
macro_rules! with_backend {
    ($kind:expr, $S:ident => $body:expr) => {
        $crate::for_each_backend!($crate::__with_backend_match, [$kind, $S, $body])
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __with_backend_match {
    ([$kind:expr, $S:ident, $body:expr]; $($name:ident $variant:ident $doc:literal $store:ty),* $(,)?) => {
        match $kind {
            $($crate::BackendKind::$variant => {
                type $S = $store;
                $body
            })*
        }
    };
}

#[cfg(test)]
mod tests {
    use crate::{BackendKind, Store};

    fn name_of<S: Store>() -> &'static str {
        S::NAME
    }

    #[test]
    fn every_kind_runs_its_own_store() {
        for kind in BackendKind::ALL {
            let name = crate::with_backend!(*kind, S => name_of::<S>());
            assert_eq!(name, kind.name());
        }
        assert_eq!(BackendKind::default(), BackendKind::ALL[0]);
    }
}
