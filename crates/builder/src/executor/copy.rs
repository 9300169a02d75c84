//! COPY and ADD: sources from the context (globs, `.dockerignore`), from
//! another stage or image (`--from`), or heredocs; `--chown` (ids, or names
//! from the image's /etc/passwd and /etc/group), `--chmod`; local tar
//! archives extracted by ADD; the layer written as a deterministic tar with
//! the parent directories Docker's copy creates; the history text with
//! Docker's source hashes (`file:`, `dir:`, `multi:`).

use super::{BuildError, Builder};
use crate::context::{entry_hash_as, hash_strings, HashFlavor, Source};
use crate::ignore::glob_match;
use crate::parser::{CopyArgs, Heredoc, Step};
use crate::shell::expand_word;
use sha2::{Digest as _, Sha256};
use skiff_image::blob::FinishedBlob;
use skiff_image::layer_scan::scan_layer;
use skiff_image::layer_tar::{write_entries, EntryData, LayerEntry};
use skiff_image::oci::media_types::OCI_LAYER;
use skiff_image::overlay::MergedView;
use skiff_image::store::{LayerBlob, NewLayer};
use skiff_image::userdb::{parse_group, parse_passwd};
use skiff_image::{Digest, StoreError};
use std::collections::{BTreeMap, HashMap};
use std::io::{self, Read};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

enum CopySrc {
    Ctx(Source),
    Image { rel: String, real: PathBuf, meta: std::fs::Metadata },
    Heredoc(Heredoc),
}

impl Builder<'_> {
    pub(super) fn copy(&mut self, si: usize, s: &Step, c: &CopyArgs, is_add: bool) -> Result<(), BuildError> {
        let line = s.line;
        let kw = if is_add { "ADD" } else { "COPY" };
        let vars = self.stages[si].vars();
        let dest = self.expand(line, &c.dest, &vars)?;
        let chown = c.chown.as_ref().map(|x| self.expand(line, x, &vars)).transpose()?;
        let chmod = match &c.chmod {
            Some(m) => {
                let m = self.expand(line, m, &vars)?;
                Some(u32::from_str_radix(&m, 8).map_err(|_| self.err(line, format!("invalid chmod parameter {m:?}")))?)
            }
            None => None,
        };
        // The source view for --from.
        let mut from_image: Option<Digest> = None;
        let from_view = match &c.from {
            Some(f) => {
                let f = self.expand(line, f, &vars)?;
                let img = if let Some(st) =
                    self.stages[..si].iter().find(|st| st.name.as_deref() == Some(f.to_ascii_lowercase().as_str()))
                {
                    st.image.clone()
                } else if let Ok(ix) = f.parse::<usize>() {
                    if ix >= si {
                        return Err(
                            self.err(line, format!("invalid from flag value {f}: refers to current build stage"))
                        );
                    }
                    self.stages[ix].image.clone()
                } else {
                    match self.store.resolve(&f) {
                        Ok(r) => Some(r.id),
                        Err(StoreError::NoSuchImage(_)) => {
                            return Err(self.err(line, format!("invalid from flag value {f}: No such image: {f}")))
                        }
                        Err(e) => return Err(e.into()),
                    }
                };
                from_image = img.clone();
                Some(self.view_of(img.as_ref())?)
            }
            None => None,
        };
        // Resolve the sources.
        let mut srcs: Vec<CopySrc> = Vec::new();
        for raw in &c.srcs {
            if let Some(name) = raw.strip_prefix("<<") {
                let name = name.trim_start_matches('-').trim_matches(|ch| ch == '"' || ch == '\'');
                if let Some(h) = c.heredocs.iter().find(|h| h.name == name) {
                    let mut h = h.clone();
                    if h.expand {
                        h.content = expand_heredoc(&h.content, &vars);
                    }
                    srcs.push(CopySrc::Heredoc(h));
                    continue;
                }
            }
            let src = self.expand(line, raw, &vars)?;
            if is_add && (src.starts_with("http://") || src.starts_with("https://") || src.starts_with("git@")) {
                return Err(self.err(
                    line,
                    format!("ADD {src}: downloading remote files during a build is not supported: builds have no network access; download it into the context and ADD the file"),
                ));
            }
            match &from_view {
                Some(view) => {
                    let clean_src = crate::ignore::clean(&format!("/{src}"));
                    if clean_src.contains(['*', '?', '[']) {
                        let pat = clean_src.trim_start_matches('/').to_string();
                        let mut found = false;
                        for (rel, real) in view.walk("/") {
                            if glob_match(pat.as_bytes(), rel.as_bytes()) {
                                if let Ok(meta) = std::fs::symlink_metadata(&real) {
                                    srcs.push(CopySrc::Image { rel, real, meta });
                                    found = true;
                                }
                            }
                        }
                        if !found {
                            return Err(self.err(line, format!("{kw} failed: no source files were specified")));
                        }
                    } else {
                        let (rel, real) = view.resolve(&clean_src).ok_or_else(|| {
                            self.err(line, format!("{kw} failed: stat {clean_src}: file does not exist"))
                        })?;
                        let meta = std::fs::metadata(&real)
                            .map_err(|e| self.err(line, format!("{kw} failed: stat {clean_src}: {e}")))?;
                        srcs.push(CopySrc::Image { rel, real, meta });
                    }
                }
                None => {
                    let found = self.ctx.sources(&src).map_err(|e| self.err(line, format!("{kw} failed: {e}")))?;
                    srcs.extend(found.into_iter().map(CopySrc::Ctx));
                }
            }
        }
        if srcs.is_empty() {
            return Err(self.err(line, format!("{kw} failed: no source files were specified")));
        }
        if srcs.len() > 1 && !dest.ends_with('/') {
            return Err(self.err(
                line,
                format!("When using {kw} with more than one source file, the destination must be a directory and end with a /"),
            ));
        }
        // Hashes for history and the cache key.
        let mut hashes = Vec::new();
        for src in &srcs {
            hashes.push(match src {
                CopySrc::Ctx(s) => self.ctx.source_hash(s)?,
                CopySrc::Image { rel, real, meta } => {
                    // As the daemon's lazy source hashes image files: their own headers,
                    // symlinks counted as their targets, unreachable entries skipped.
                    if meta.is_dir() {
                        let view = from_view.as_ref().expect("image sources come with a view");
                        let mut sums = vec![entry_hash_as(rel, real, meta, HashFlavor::Image)?];
                        for (sub, _) in view.walk(rel) {
                            let Some((target, r)) = view.resolve(&format!("{rel}/{sub}")) else { continue };
                            let Ok(m) = std::fs::symlink_metadata(&r) else { continue };
                            sums.push(entry_hash_as(&target, &r, &m, HashFlavor::Image)?);
                        }
                        sums.sort();
                        hash_strings("dir", &sums)
                    } else {
                        format!("file:{}", entry_hash_as(rel, real, meta, HashFlavor::Image)?)
                    }
                }
                CopySrc::Heredoc(h) => format!("file:{}", hex::encode(Sha256::digest(h.content.as_bytes()))),
            });
        }
        let src_hash = if hashes.len() == 1 { hashes[0].clone() } else { hash_strings("multi", &hashes) };
        // Docker's format, flags glued to the hash: `COPY --chown=1000:1000file:<hash> in <dest> `.
        let chown_comment = chown.as_ref().map(|c| format!("--chown={c}")).unwrap_or_default();
        let chmod_comment = c.chmod.as_ref().map(|_| format!("--chmod={:o}", chmod.unwrap_or(0))).unwrap_or_default();
        let comment = format!("{kw} {chown_comment}{chmod_comment}{src_hash} in {dest} ");
        let st = &self.stages[si];
        let mut cc = st.run.clone();
        let mut cmd = st.shell();
        cmd.push(format!("#(nop) {comment}"));
        cc.cmd = Some(cmd);
        cc.image = st.parent_str();
        let extra = format!(
            "chown={chown:?} chmod={chmod:?} from={} link={}",
            from_image.as_ref().map(|d| d.to_string()).unwrap_or_default(),
            c.link
        );
        let key = Self::cache_key(&st.parent_str(), &cc, &extra);
        if self.try_cache(si, &key)? {
            return Ok(());
        }
        // Build the layer.
        let view = self.view_of(self.stages[si].image.as_ref())?;
        let ids = match &chown {
            Some(spec) => Some(self.chown_ids(line, spec, &view)?),
            None => None,
        };
        let wd = &self.stages[si].run.working_dir;
        let workdir = if wd.is_empty() { "/".to_string() } else { wd.clone() };
        let abs_dest =
            if dest.starts_with('/') { dest.clone() } else { format!("{}/{dest}", workdir.trim_end_matches('/')) };
        let dest_is_dir = dest.ends_with('/') || dest.ends_with("/.") || dest == "." || srcs.len() > 1;
        let dest_path = view
            .resolve_lenient(&abs_dest)
            .ok_or_else(|| self.err(line, format!("{kw} failed: {abs_dest}: too many levels of symbolic links")))?;
        let dest_existing_dir = view.is_dir(&dest_path);
        let mut entries: Vec<LayerEntry> = Vec::new();
        let apply = |mut e: LayerEntry, keep_owner: bool| -> LayerEntry {
            match ids {
                Some((u, g)) => {
                    e.uid = u;
                    e.gid = g;
                }
                None if !keep_owner => {
                    e.uid = 0;
                    e.gid = 0;
                }
                None => {}
            }
            if let Some(m) = chmod {
                e.mode = m;
            }
            e
        };
        let join = |base: &str, rel: &str| -> String {
            let b = base.trim_matches('/');
            match (b.is_empty(), rel.is_empty()) {
                (true, _) => rel.to_string(),
                (false, true) => b.to_string(),
                (false, false) => format!("{b}/{rel}"),
            }
        };
        let mut first_mtime = 0;
        for src in &srcs {
            match src {
                CopySrc::Ctx(s) => {
                    first_mtime = if first_mtime == 0 { s.meta.mtime() } else { first_mtime };
                    if s.meta.is_dir() {
                        for e in self.ctx.walk(&s.rel)? {
                            // The path below the source directory ("" for the directory itself).
                            let sub = if e.rel == s.rel {
                                String::new()
                            } else if s.rel == "." {
                                e.rel.clone()
                            } else {
                                e.rel[s.rel.len()..].trim_start_matches('/').to_string()
                            };
                            let path = join(&dest_path, &sub);
                            if path.is_empty() {
                                continue; // the image root itself
                            }
                            let le = LayerEntry::from_fs(path, &e.real, &e.meta)
                                .map_err(|err| self.err(line, format!("{kw} failed: {}: {err}", e.rel)))?;
                            entries.push(apply(le, false));
                        }
                    } else {
                        let base = s.rel.rsplit('/').next().unwrap_or(&s.rel).to_string();
                        if is_add {
                            if let Some(extracted) = self.extract_archive(line, &s.real, &dest_path)? {
                                entries.extend(extracted);
                                continue;
                            }
                        }
                        let path = if dest_is_dir || dest_existing_dir {
                            join(&dest_path, &base)
                        } else {
                            join(&dest_path, "")
                        };
                        let le = LayerEntry::from_fs(path, &s.real, &s.meta)
                            .map_err(|err| self.err(line, format!("{kw} failed: {}: {err}", s.rel)))?;
                        entries.push(apply(le, false));
                    }
                }
                CopySrc::Image { rel, real, meta } => {
                    first_mtime = if first_mtime == 0 { meta.mtime() } else { first_mtime };
                    let view = from_view.as_ref().expect("image sources come with a view");
                    if meta.is_dir() {
                        let top = LayerEntry::from_fs(join(&dest_path, ""), real, meta)
                            .map_err(|err| self.err(line, format!("{kw} failed: {rel}: {err}")))?;
                        if !top.path.is_empty() {
                            entries.push(apply(top, true));
                        }
                        for (sub, r) in view.walk(rel) {
                            let Ok(m) = std::fs::symlink_metadata(&r) else { continue };
                            let le = LayerEntry::from_fs(join(&dest_path, &sub), &r, &m)
                                .map_err(|err| self.err(line, format!("{kw} failed: {sub}: {err}")))?;
                            entries.push(apply(le, true));
                        }
                    } else {
                        let base = rel.rsplit('/').next().unwrap_or(rel).to_string();
                        let path = if dest_is_dir || dest_existing_dir {
                            join(&dest_path, &base)
                        } else {
                            join(&dest_path, "")
                        };
                        let le = LayerEntry::from_fs(path, real, meta)
                            .map_err(|err| self.err(line, format!("{kw} failed: {rel}: {err}")))?;
                        entries.push(apply(le, true));
                    }
                }
                CopySrc::Heredoc(h) => {
                    let path =
                        if dest_is_dir || dest_existing_dir { join(&dest_path, &h.name) } else { join(&dest_path, "") };
                    let le = LayerEntry {
                        path,
                        data: EntryData::Bytes(h.content.clone().into_bytes()),
                        mode: 0o644,
                        uid: 0,
                        gid: 0,
                        mtime: 0,
                        xattrs: Vec::new(),
                    };
                    entries.push(apply(le, false));
                }
            }
        }
        // Parent directories of everything copied (missing ones are created root-owned, as Docker does even with --chown).
        let (pu, pg) = (0, 0);
        let mut parents: BTreeMap<String, ()> = BTreeMap::new();
        for e in &entries {
            let mut p = e.path.as_str();
            while let Some((parent, _)) = p.rsplit_once('/') {
                parents.insert(parent.to_string(), ());
                p = parent;
            }
        }
        let have: std::collections::HashSet<String> = entries.iter().map(|e| e.path.clone()).collect();
        let mut dirs = Vec::new();
        for p in parents.keys() {
            if have.contains(p) {
                continue;
            }
            if let Some(d) = self.dir_chain(&view, p, pu, pg, first_mtime).pop() {
                dirs.push(d);
            }
        }
        dirs.extend(entries);
        let layer = self.store_layer(dirs)?;
        let id = self.commit(si, cc, Some(layer), "")?;
        self.finish_step(si, &key, id)
    }

    /// ADD of a local archive: its entries under `dest` (owners as archived, --chown or not), or None when the file is not a tar.
    pub(super) fn extract_archive(
        &self,
        line: usize,
        real: &Path,
        dest: &str,
    ) -> Result<Option<Vec<LayerEntry>>, BuildError> {
        let f =
            std::fs::File::open(real).map_err(|e| self.err(line, format!("ADD failed: {}: {e}", real.display())))?;
        let Ok((_, mut plain)) = skiff_image::compression::decompress(f) else { return Ok(None) };
        let mut head = vec![0u8; 512];
        let mut got = 0;
        while got < 512 {
            match plain.read(&mut head[got..]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(_) => return Ok(None),
            }
        }
        if got < 512 || &head[257..262] != b"ustar" {
            return Ok(None);
        }
        let chained = io::Cursor::new(head).chain(plain);
        let mut ar = tar::Archive::new(chained);
        let mut out = Vec::new();
        let base = dest.trim_matches('/');
        let bad = |e: io::Error| self.err(line, format!("ADD failed: extracting {}: {e}", real.display()));
        for entry in ar.entries().map_err(bad)? {
            let mut entry = entry.map_err(bad)?;
            let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            let rel = crate::ignore::clean(raw.trim_start_matches('/'));
            if rel == "." {
                continue;
            }
            if rel == ".." || rel.starts_with("../") {
                return Err(
                    self.err(line, format!("ADD failed: {}: entry {raw:?} points outside the archive", real.display()))
                );
            }
            let path = if base.is_empty() { rel.clone() } else { format!("{base}/{rel}") };
            let h = entry.header().clone();
            let mode = h.mode().unwrap_or(0o644) & 0o7777;
            // Docker keeps the archive's owners, --chown or not.
            let (uid, gid) = (h.uid().unwrap_or(0), h.gid().unwrap_or(0));
            let mtime = h.mtime().unwrap_or(0) as i64;
            let link = entry.link_name_bytes().map(|l| l.into_owned());
            let data = match h.entry_type() {
                tar::EntryType::Directory => EntryData::Dir,
                tar::EntryType::Symlink => EntryData::Symlink(link.unwrap_or_default()),
                tar::EntryType::Link => {
                    let t = crate::ignore::clean(
                        String::from_utf8_lossy(&link.unwrap_or_default()).trim_start_matches('/'),
                    );
                    if t == ".." || t.starts_with("../") {
                        return Err(self.err(
                            line,
                            format!("ADD failed: {}: hard link {raw:?} points outside the archive", real.display()),
                        ));
                    }
                    EntryData::Hardlink(if base.is_empty() { t } else { format!("{base}/{t}") })
                }
                tar::EntryType::Fifo => EntryData::Fifo,
                tar::EntryType::Char => EntryData::Char(
                    h.device_major().ok().flatten().unwrap_or(0),
                    h.device_minor().ok().flatten().unwrap_or(0),
                ),
                tar::EntryType::Block => EntryData::Block(
                    h.device_major().ok().flatten().unwrap_or(0),
                    h.device_minor().ok().flatten().unwrap_or(0),
                ),
                tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::GNUSparse => {
                    let mut buf = Vec::new();
                    entry.read_to_end(&mut buf).map_err(bad)?;
                    EntryData::Bytes(buf)
                }
                _ => continue,
            };
            out.push(LayerEntry { path, data, mode, uid, gid, mtime, xattrs: Vec::new() });
        }
        Ok(Some(out))
    }

    /// `--chown=user[:group]` → ids, names looked up in the image's /etc/passwd and /etc/group.
    pub(super) fn chown_ids(&self, line: usize, spec: &str, view: &MergedView) -> Result<(u64, u64), BuildError> {
        let (u, g) = match spec.split_once(':') {
            Some((u, g)) => (u, g),
            None => (spec, spec),
        };
        let lookup = |name: &str, file: &str, what: &str| -> Result<u64, BuildError> {
            if let Ok(n) = name.parse::<u64>() {
                return Ok(n);
            }
            let db = view.read(file).map(|b| String::from_utf8_lossy(&b).into_owned()).ok_or_else(|| {
                self.err(
                    line,
                    format!("unable to convert uid/gid chown string to host mapping: can't find {what} for {name}: open {file}: no such file or directory"),
                )
            })?;
            let id = if what == "uid" {
                parse_passwd(&db).into_iter().find(|p| p.name == name).map(|p| p.uid)
            } else {
                parse_group(&db).into_iter().find(|g| g.name == name).map(|g| g.gid)
            };
            id.map(u64::from).ok_or_else(|| {
                self.err(
                    line,
                    format!("unable to convert uid/gid chown string to host mapping: can't find {what} for {name}: no such {}: {name}", if what == "uid" { "user" } else { "group" }),
                )
            })
        };
        // `--chown=name` alone means the group of the same name (or id), as Docker reads it.
        Ok((lookup(u, "/etc/passwd", "uid")?, lookup(g, "/etc/group", "gid")?))
    }

    pub(super) fn store_layer(&self, entries: Vec<LayerEntry>) -> Result<NewLayer, BuildError> {
        let w = self.store.blobs().writer().map_err(StoreError::from)?;
        let w = write_entries(entries, w).map_err(|e| BuildError::Invalid(format!("writing layer: {e}")))?;
        let blob = w.finish().map_err(StoreError::from)?;
        self.layer_from_blob(blob)
    }

    pub(super) fn layer_from_blob(&self, blob: FinishedBlob) -> Result<NewLayer, BuildError> {
        let scan =
            scan_layer(blob.file()).map_err(|e| BuildError::Invalid(format!("layer written by the builder: {e}")))?;
        Ok(NewLayer {
            diff_id: blob.digest.clone(),
            size: scan.size,
            blob: LayerBlob::Staged(blob),
            media_type: OCI_LAYER.into(),
        })
    }
}

/// Expands `$VAR` in heredoc text (quotes are literal there).
fn expand_heredoc(text: &str, vars: &HashMap<String, String>) -> String {
    let escaped: String = text.replace('"', "\\\"").replace('\'', "\\'");
    expand_word(&escaped, vars, '\\').unwrap_or_else(|_| text.to_string())
}
