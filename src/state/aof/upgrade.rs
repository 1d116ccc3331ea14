//! A single-file AOF of Redis before 7.0 (`dir/appendonly.aof`) moved
//! into the AOF directory as its base, as Redis 7.0's `aofUpgradePrepare`
//! does.

use std::fs;
use std::path::Path;

use super::manifest::{Manifest, Part};
use crate::config::Config;

/// Upgrade when an old file sits beside the directory and there is no
/// directory, or the manifest `m` lists nothing, or an earlier upgrade
/// stopped after writing the manifest and before moving the file. The
/// manifest is written first and the file moved second (a crash between
/// is the third case). `m` becomes the new manifest.
pub(super) fn old_single_file(
    config: &Config,
    dir: &Path,
    manifest_path: &Path,
    m: &mut Manifest,
) -> Result<(), String> {
    let name = &config.aof.filename;
    let old = dir.parent().unwrap_or(Path::new(".")).join(name);
    if !old.is_file() {
        return Ok(());
    }
    let interrupted = m.incrs.is_empty()
        && m.base.as_ref().is_some_and(|b| &b.name == name)
        && !dir.join(name).exists();
    let listed_nothing = m.base.is_none() && m.incrs.is_empty();
    if dir.is_dir() && !listed_nothing && !interrupted {
        return Ok(());
    }
    fs::create_dir_all(dir).map_err(|e| {
        format!(
            "Can't open or create append-only dir {}: {e}",
            dir.display()
        )
    })?;
    *m = Manifest {
        base: Some(Part {
            name: name.clone(),
            seq: 1,
        }),
        incrs: Vec::new(),
    };
    m.store(manifest_path).map_err(|e| e.to_string())?;
    fs::rename(&old, dir.join(name)).map_err(|e| {
        format!(
            "Error trying to move the old AOF file {name} into dir {}: {e}",
            config.aof.dirname
        )
    })?;
    tracing::info!(
        "Successfully migrated an old-style AOF file ({name}) into the AOF directory ({}).",
        config.aof.dirname
    );
    Ok(())
}
