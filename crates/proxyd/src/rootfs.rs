//! Reading the configuration for a reload after `chroot`.
//!
//! Before chrooting, proxyd keeps a descriptor on the real `/` and the
//! absolute paths of its `-f` arguments. A reload then reads the files
//! (and lists `-f` directories) relative to that descriptor with
//! `openat(2)`, so the configuration outside the chroot stays reachable
//! without any privilege. User and group names are resolved from a copy
//! taken before the chroot (the passwd/group databases are outside it);
//! `errorfile` paths are checked through the same descriptor.

use std::collections::HashMap;
use std::io::Read;
use std::net::IpAddr;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use nix::fcntl::{openat, OFlag};
use nix::sys::stat::Mode;

use crate::config::values::{Host, SystemHost};
use crate::config::{Diag, Errors, Level, Loaded};

/// The real root directory, opened before `chroot`.
#[derive(Debug)]
pub struct RootFs {
    fd: OwnedFd,
    users: HashMap<String, u32>,
    groups: HashMap<String, u32>,
}

fn rel(path: &Path) -> PathBuf {
    path.strip_prefix("/").unwrap_or(path).to_path_buf()
}

impl RootFs {
    /// Open `/` and remember the ids of `users`/`groups` (call before
    /// `chroot`).
    pub fn open(users: &[&str], groups: &[&str]) -> std::io::Result<RootFs> {
        let fd = nix::fcntl::open(
            "/",
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(std::io::Error::from)?;
        let users = users
            .iter()
            .filter_map(|u| SystemHost.user_id(u).map(|id| (u.to_string(), id)))
            .collect();
        let groups = groups
            .iter()
            .filter_map(|g| SystemHost.group_id(g).map(|id| (g.to_string(), id)))
            .collect();
        Ok(RootFs { fd, users, groups })
    }

    fn open_file(&self, path: &Path) -> std::io::Result<std::fs::File> {
        let fd = openat(
            &self.fd,
            &rel(path),
            OFlag::O_RDONLY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(std::io::Error::from)?;
        Ok(std::fs::File::from(fd))
    }

    fn read(&self, path: &Path) -> std::io::Result<String> {
        let mut s = String::new();
        self.open_file(path)?.read_to_string(&mut s)?;
        Ok(s)
    }

    fn is_dir(&self, path: &Path) -> bool {
        nix::dir::Dir::openat(
            &self.fd,
            &rel(path),
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .is_ok()
    }

    /// `*.cfg` files of a directory, in lexical order.
    fn list(&self, dir: &Path) -> std::io::Result<Vec<PathBuf>> {
        let mut d = nix::dir::Dir::openat(
            &self.fd,
            &rel(dir),
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(std::io::Error::from)?;
        let mut out: Vec<PathBuf> = d
            .iter()
            .filter_map(Result::ok)
            .filter_map(|e| e.file_name().to_str().ok().map(str::to_string))
            .filter(|n| n.ends_with(".cfg") && n.len() > 4)
            .map(|n| dir.join(n))
            .filter(|p| !self.is_dir(p))
            .collect();
        out.sort();
        Ok(out)
    }

    /// Load the configuration like [`crate::config::load`], through this
    /// root. `files` are (absolute path, name to show in messages).
    pub fn load(&self, files: &[(PathBuf, String)]) -> Result<Loaded, Errors> {
        let mut sources = Vec::new();
        let mut diags = Vec::new();
        for (abs, shown) in files {
            if self.is_dir(abs) {
                match self.list(abs) {
                    Ok(list) => {
                        for f in list {
                            let name = Path::new(shown)
                                .join(f.file_name().unwrap_or_default())
                                .display()
                                .to_string();
                            self.read_one(&f, name, &mut sources, &mut diags);
                        }
                    }
                    Err(e) => diags.push(Diag::raw(
                        Level::Alert,
                        None,
                        format!("Cannot open configuration directory {shown} : {e}"),
                    )),
                }
            } else {
                self.read_one(abs, shown.clone(), &mut sources, &mut diags);
            }
        }
        if !diags.is_empty() {
            return Err(Errors { diags });
        }
        crate::config::parse_sources(&sources, self, &common::lexer::ProcessEnv)
    }

    fn read_one(
        &self,
        path: &Path,
        name: String,
        out: &mut Vec<(String, String)>,
        diags: &mut Vec<Diag>,
    ) {
        match self.read(path) {
            Ok(text) => out.push((name, text)),
            Err(e) => diags.push(Diag::raw(
                Level::Alert,
                None,
                format!(
                    "Could not open configuration file {name} : {}",
                    match e.kind() {
                        std::io::ErrorKind::NotFound => "No such file or directory".to_string(),
                        std::io::ErrorKind::PermissionDenied => "Permission denied".to_string(),
                        _ => e.to_string(),
                    }
                ),
            )),
        }
    }
}

impl Host for RootFs {
    fn resolve(&self, host: &str, v6: Option<bool>) -> Option<IpAddr> {
        SystemHost.resolve(host, v6)
    }
    fn user_id(&self, name: &str) -> Option<u32> {
        self.users
            .get(name)
            .copied()
            .or_else(|| SystemHost.user_id(name))
    }
    fn group_id(&self, name: &str) -> Option<u32> {
        self.groups
            .get(name)
            .copied()
            .or_else(|| SystemHost.group_id(name))
    }
    fn file_readable(&self, path: &Path) -> bool {
        if path.is_absolute() {
            self.open_file(path).is_ok()
        } else {
            SystemHost.file_readable(path)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loads_files_and_directories_through_the_root_fd() {
        let dir = std::env::temp_dir().join(format!("proxyd-rootfs-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("conf.d")).unwrap();
        std::fs::write(
            dir.join("main.cfg"),
            "global\n    maxconn 100\ndefaults\n    mode tcp\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\n",
        )
        .unwrap();
        std::fs::write(
            dir.join("conf.d/10-l.cfg"),
            "listen l\n    bind 127.0.0.1:1\n    server s 127.0.0.1:2\n",
        )
        .unwrap();
        std::fs::write(dir.join("conf.d/ignored.txt"), "garbage").unwrap();
        let root = RootFs::open(&["root"], &["root"]).unwrap();
        assert_eq!(root.user_id("root"), Some(0));
        let files = vec![
            (dir.join("main.cfg"), "main.cfg".to_string()),
            (dir.join("conf.d"), "conf.d".to_string()),
        ];
        let loaded = root.load(&files).unwrap();
        assert_eq!(loaded.config.global.maxconn, Some(100));
        assert_eq!(loaded.config.frontends.len(), 1);
        let err = root
            .load(&[(dir.join("missing.cfg"), "missing.cfg".to_string())])
            .unwrap_err();
        assert!(err.diags[0]
            .text
            .contains("Could not open configuration file missing.cfg : No such file"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
