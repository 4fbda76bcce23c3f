//! keepalived's notify FIFOs (`notify_fifo`, `vrrp_notify_fifo`): every
//! state change is written as one line, in order, to each configured FIFO,
//! e.g. `INSTANCE "VI_1" MASTER 101` or `GROUP "G1" BACKUP 0` (the format
//! checked against keepalived 2.2.7).
//!
//! A FIFO that does not exist is created (mode 0600, owned by the given
//! user/group) and removed again when it is no longer configured or at
//! exit; an existing one is left in place. FIFOs are opened read-write and
//! non-blocking, as keepalived does, so that opening never waits for a
//! reader and a missing or slow reader cannot stall the daemon: what the
//! pipe cannot take is dropped with a warning.

use std::fs::File;
use std::io::{self, Write};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::PathBuf;
use std::sync::Mutex;

use crate::config::NotifyFifo;

struct Open {
    path: PathBuf,
    file: File,
    /// Created by us: removed when closed.
    created: bool,
}

/// The open notify FIFOs of the process.
#[derive(Default)]
pub struct Fifos {
    open: Mutex<Vec<Open>>,
}

impl std::fmt::Debug for Fifos {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fifos").finish_non_exhaustive()
    }
}

/// The line keepalived writes for an instance (`kind` `INSTANCE`) or a
/// sync group (`GROUP`, priority 0).
pub fn line(kind: &str, name: &str, state: &str, priority: u8) -> String {
    format!("{kind} \"{name}\" {state} {priority}\n")
}

fn open_fifo(f: &NotifyFifo) -> io::Result<Open> {
    let mut created = false;
    match std::fs::metadata(&f.path) {
        Ok(m) if m.file_type().is_fifo() => {}
        Ok(_) => {
            return Err(io::Error::other(format!(
                "{} exists and is not a FIFO",
                f.path.display()
            )))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            nix::unistd::mkfifo(&f.path, nix::sys::stat::Mode::from_bits_truncate(0o600))?;
            created = true;
            if let Some(u) = &f.owner {
                let (uid, gid) = crate::script::resolve_user(u)
                    .ok_or_else(|| io::Error::other(format!("unknown user {}", u.user)))?;
                nix::unistd::chown(
                    &f.path,
                    Some(nix::unistd::Uid::from_raw(uid)),
                    Some(nix::unistd::Gid::from_raw(gid)),
                )?;
            }
        }
        Err(e) => return Err(e),
    }
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&f.path)?;
    Ok(Open {
        path: f.path.clone(),
        file,
        created,
    })
}

fn close(o: Open) {
    if o.created {
        let _ = std::fs::remove_file(&o.path);
    }
}

impl Fifos {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Open>> {
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Make the open set `wanted` (start, reload): FIFOs kept stay open,
    /// new ones are opened (a failure is logged and that FIFO skipped),
    /// dropped ones are closed.
    pub fn configure(&self, wanted: &[NotifyFifo]) {
        let mut open = self.lock();
        let (keep, drop): (Vec<Open>, Vec<Open>) = std::mem::take(&mut *open)
            .into_iter()
            .partition(|o| wanted.iter().any(|w| w.path == o.path));
        drop.into_iter().for_each(close);
        *open = keep;
        for w in wanted {
            if open.iter().any(|o| o.path == w.path) {
                continue;
            }
            match open_fifo(w) {
                Ok(o) => {
                    tracing::info!("Opened notify FIFO {}", w.path.display());
                    open.push(o);
                }
                Err(e) => tracing::error!("cannot open notify FIFO {}: {e}", w.path.display()),
            }
        }
    }

    /// Write `line` to every FIFO.
    pub fn write(&self, line: &str) {
        for o in self.lock().iter_mut() {
            if let Err(e) = o.file.write_all(line.as_bytes()) {
                tracing::warn!(
                    "notify FIFO {}: {e} (no reader?); dropped: {}",
                    o.path.display(),
                    line.trim_end()
                );
            }
        }
    }

    /// Close everything (exit), removing the FIFOs we created.
    pub fn close_all(&self) {
        std::mem::take(&mut *self.lock())
            .into_iter()
            .for_each(close);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn lines_as_keepalived() {
        assert_eq!(
            line("INSTANCE", "VI_1", "MASTER", 101),
            "INSTANCE \"VI_1\" MASTER 101\n"
        );
        assert_eq!(line("GROUP", "G1", "BACKUP", 0), "GROUP \"G1\" BACKUP 0\n");
    }

    #[test]
    fn created_written_kept_and_removed() {
        let dir = std::env::temp_dir().join(format!("vrrpd-fifo-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("notify");
        let _ = std::fs::remove_file(&path);
        let f = Fifos::default();
        let want = vec![NotifyFifo {
            path: path.clone(),
            owner: None,
        }];
        f.configure(&want);
        assert!(std::fs::metadata(&path).unwrap().file_type().is_fifo());
        // a reader opened afterwards sees the lines written from then on
        let mut reader = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&path)
            .unwrap();
        f.configure(&want); // kept open, not recreated
        f.write(&line("INSTANCE", "VI_1", "BACKUP", 100));
        f.write(&line("INSTANCE", "VI_1", "MASTER", 100));
        let mut got = String::new();
        let _ = reader.read_to_string(&mut got);
        assert_eq!(
            got,
            "INSTANCE \"VI_1\" BACKUP 100\nINSTANCE \"VI_1\" MASTER 100\n"
        );
        f.close_all();
        assert!(!path.exists(), "a FIFO we created is removed");

        // an existing regular file is refused, and left alone
        std::fs::write(&path, "x").unwrap();
        f.configure(&want);
        f.write("ignored\n");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "x");
        f.close_all();
        assert!(path.exists());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
