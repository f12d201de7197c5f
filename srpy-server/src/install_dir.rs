//! An engine's private install folder: where shipped modules are written,
//! first on the engine's `sys.path`.
//!
//! Whoever can write into that folder can run code inside the engine, so
//! it is made fresh for each engine process, with a name nobody can guess
//! and mode 0700, and never adopted when the name exists already (a folder
//! planted by another local user in the shared temporary directory must
//! not end up on `sys.path`). It is removed when the engine ends; what a
//! `kill -9` left behind (of the engine, or of the server, whose death
//! kills its engines at once) is swept by the next engine that starts.

use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};

/// Every install folder's name starts so: `srpy-engine-<index>-<pid>-<random>`.
const PREFIX: &str = "srpy-engine-";

/// Creates engine `index`'s folder in the temporary directory, after
/// sweeping the folders of this user's engines that are gone.
pub fn create(index: u64) -> io::Result<PathBuf> {
    let base = std::env::temp_dir();
    sweep_stale(&base);
    create_in(&base, index)
}

fn create_in(base: &Path, index: u64) -> io::Result<PathBuf> {
    let pid = std::process::id();
    let mut last_err = None;
    // A collision of 64 random bits means someone planted that exact name:
    // try another rather than adopt it.
    for _ in 0..4 {
        let random = hex_random();
        let dir = base.join(format!("{PREFIX}{index}-{pid}-{random}"));
        match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last_err = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last_err.expect("the loop ran"))
}

fn hex_random() -> String {
    srpy_proto::handshake::new_nonce()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Removes install folders whose engine process is gone: owned by this
/// user, a real directory (not a link), and named after a pid that no
/// longer exists. A folder whose pid is alive is kept, whoever it belongs
/// to; pid reuse can only make a stale folder live longer.
fn sweep_stale(base: &Path) {
    let Ok(entries) = std::fs::read_dir(base) else {
        return;
    };
    // SAFETY: geteuid cannot fail.
    let uid = unsafe { libc::geteuid() };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(engine_pid) else {
            continue;
        };
        let Ok(meta) = std::fs::symlink_metadata(entry.path()) else {
            continue;
        };
        if meta.is_dir() && meta.uid() == uid && !process_exists(pid) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// The pid in `srpy-engine-<index>-<pid>[-<random>]`.
fn engine_pid(name: &str) -> Option<i32> {
    let mut parts = name.strip_prefix(PREFIX)?.split('-');
    parts.next()?.parse::<u64>().ok()?;
    let pid = parts.next()?.parse::<i32>().ok()?;
    (pid > 0).then_some(pid)
}

fn process_exists(pid: i32) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "srpy-install-dir-test-{tag}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir(&d).unwrap();
        d
    }

    #[test]
    fn folders_are_private_fresh_and_unguessable() {
        let base = scratch("fresh");
        let a = create_in(&base, 3).unwrap();
        let b = create_in(&base, 3).unwrap();
        assert_ne!(a, b, "two engines never share a folder");
        let meta = std::fs::metadata(&a).unwrap();
        assert_eq!(meta.mode() & 0o777, 0o700);
        let name = a.file_name().unwrap().to_str().unwrap().to_owned();
        let prefix = format!("{PREFIX}3-{}-", std::process::id());
        assert!(name.starts_with(&prefix), "{name}");
        assert_eq!(name.len(), prefix.len() + 16, "{name}");
        std::fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn stale_folders_of_dead_engines_are_swept_live_ones_kept() {
        let base = scratch("sweep");
        // pid 0x7fff_fff0 is above any Linux pid_max: no such process.
        let dead = base.join(format!("{PREFIX}0-{}-00", 0x7fff_fff0));
        let old_style_dead = base.join(format!("{PREFIX}1-{}", 0x7fff_fff1));
        let live = base.join(format!("{PREFIX}0-{}-00", std::process::id()));
        let unrelated = base.join("srpy-engine-notes");
        for d in [&dead, &old_style_dead, &live, &unrelated] {
            std::fs::create_dir(d).unwrap();
        }
        sweep_stale(&base);
        assert!(!dead.exists() && !old_style_dead.exists());
        assert!(live.exists() && unrelated.exists());
        std::fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn engine_pid_reads_both_name_forms() {
        assert_eq!(engine_pid("srpy-engine-2-4242-ab12"), Some(4242));
        assert_eq!(engine_pid("srpy-engine-2-4242"), Some(4242));
        assert_eq!(engine_pid("srpy-engine-x-4242"), None);
        assert_eq!(engine_pid("srpy-engine-2-0"), None);
        assert_eq!(engine_pid("other"), None);
    }
}
