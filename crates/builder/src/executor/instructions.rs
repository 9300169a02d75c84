//! The instructions that change only the image config (ENV, LABEL, ARG, USER,
//! EXPOSE, VOLUME, STOPSIGNAL, CMD, ENTRYPOINT, SHELL, HEALTHCHECK, ONBUILD,
//! MAINTAINER) and WORKDIR, with the classic builder's history text for each,
//! committed through the one `#(nop)` step they share.

use super::gofmt::{duration_string, go_quote_list, parse_ports, random_id};
use super::{container_defaults, BuildError, Builder};
use crate::parser::{Instruction, Step};
use crate::shell::expand_words;
use serde_json::{json, Value};
use skiff_image::change_instructions::parse_duration;
use skiff_image::layer_tar::{EntryData, LayerEntry};
use skiff_image::overlay::MergedView;
use skiff_image::store::NewLayer;
use skiff_image::strconv::quote;
use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;

impl Builder<'_> {
    pub(super) fn dispatch(
        &mut self,
        si: usize,
        s: &Step,
        meta: &[(String, Option<String>)],
    ) -> Result<(), BuildError> {
        let line = s.line;
        let vars = self.stages[si].vars();
        match &s.instruction {
            Instruction::From { .. } => unreachable!("FROM starts a stage"),
            Instruction::Env(pairs) => {
                let (comment, expanded) = self.expand_pairs("ENV", line, pairs, &vars)?;
                let st = &mut self.stages[si];
                let env = st.run.env.get_or_insert_with(Vec::new);
                for (k, v) in expanded {
                    let kv = format!("{k}={v}");
                    match env.iter_mut().find(|e| e.split_once('=').map(|(ek, _)| ek).unwrap_or(e) == k) {
                        Some(e) => *e = kv,
                        None => env.push(kv),
                    }
                }
                self.commit_meta(si, &comment, true)
            }
            Instruction::Label(pairs) => {
                let (comment, expanded) = self.expand_pairs("LABEL", line, pairs, &vars)?;
                let labels = self.stages[si].run.labels.get_or_insert_with(BTreeMap::new);
                for (k, v) in expanded {
                    labels.insert(k, v);
                }
                self.commit_meta(si, &comment, true)
            }
            Instruction::Arg(args) => {
                let mut parts = Vec::new();
                for (k, default) in args {
                    let default = match default {
                        Some(d) => Some(self.expand(line, d, &vars)?),
                        None => None,
                    };
                    parts.push(match &default {
                        Some(d) => format!("{k}={d}"),
                        None => k.clone(),
                    });
                    let value = match self.build_arg(k) {
                        Some(Some(v)) => Some(v),
                        _ => match default {
                            Some(d) => Some(d),
                            None => meta.iter().find(|(mk, _)| mk == k).and_then(|(_, v)| v.clone()),
                        },
                    };
                    let st = &mut self.stages[si];
                    st.args.retain(|(ak, _)| ak != k);
                    st.args.push((k.clone(), value));
                }
                self.commit_meta(si, &format!("ARG {}", parts.join(" ")), true)
            }
            Instruction::Workdir(w) => {
                let w = self.expand(line, w, &vars)?;
                let st = &mut self.stages[si];
                let joined = if w.starts_with('/') {
                    w.clone()
                } else {
                    let cur = if st.run.working_dir.is_empty() { "/".to_string() } else { st.run.working_dir.clone() };
                    format!("{}/{w}", cur.trim_end_matches('/'))
                };
                st.run.working_dir = crate::ignore::clean(&joined);
                let dir = st.run.working_dir.clone();
                self.workdir(si, &dir)
            }
            Instruction::User(u) => {
                let u = self.expand(line, u, &vars)?;
                self.stages[si].run.user = u.clone();
                self.commit_meta(si, &format!("USER {u}"), true)
            }
            Instruction::Expose(ports) => {
                let mut list = Vec::new();
                let mut words = Vec::new();
                for p in ports {
                    for w in expand_words(p, &vars, self.escape).map_err(|e| self.err(line, e.to_string()))? {
                        list.extend(parse_ports(&w).map_err(|m| self.err(line, m))?);
                        words.push(w);
                    }
                }
                let map = self.stages[si].run.exposed_ports.get_or_insert_with(BTreeMap::new);
                for p in &list {
                    map.insert(p.clone(), json!({}));
                }
                // History shows the specs as written, sorted (`EXPOSE 53/udp 80 8000-8001`).
                words.sort();
                self.commit_meta(si, &format!("EXPOSE {}", words.join(" ")), true)
            }
            Instruction::Volume(vols) => {
                let mut list = Vec::new();
                for v in vols {
                    let v = self.expand(line, v, &vars)?;
                    if v.trim().is_empty() {
                        return Err(self.err(line, "VOLUME specified can not be an empty string"));
                    }
                    list.push(v);
                }
                let map = self.stages[si].run.volumes.get_or_insert_with(BTreeMap::new);
                for v in &list {
                    map.insert(v.clone(), json!({}));
                }
                self.commit_meta(si, &format!("VOLUME [{}]", list.join(" ")), true)
            }
            Instruction::StopSignal(sig) => {
                let sig = self.expand(line, sig, &vars)?;
                self.stages[si].run.stop_signal = sig.clone();
                self.commit_meta(si, &format!("STOPSIGNAL {sig}"), true)
            }
            Instruction::Cmd(c) => {
                let cmd = self.resolve_cmd(si, c);
                let st = &mut self.stages[si];
                st.run.cmd = Some(cmd.clone());
                st.cmd_set = true;
                self.commit_meta(si, &format!("CMD {}", go_quote_list(&cmd)), true)
            }
            Instruction::Entrypoint(c) => {
                let cmd = self.resolve_cmd(si, c);
                let st = &mut self.stages[si];
                st.run.entrypoint = Some(cmd.clone());
                if !st.cmd_set {
                    st.run.cmd = None;
                }
                self.commit_meta(si, &format!("ENTRYPOINT {}", go_quote_list(&cmd)), true)
            }
            Instruction::Shell(v) => {
                self.stages[si].run.shell = Some(v.clone());
                self.commit_meta(si, &format!("SHELL [{}]", v.join(" ")), true)
            }
            Instruction::Healthcheck(h) => {
                let mut hc = serde_json::Map::new();
                hc.insert("Test".into(), json!(h.test));
                let mut durs = Vec::new();
                for (name, v) in [("Interval", &h.interval), ("Timeout", &h.timeout), ("StartPeriod", &h.start_period)]
                {
                    let ns = match v {
                        Some(v) => {
                            let ns = parse_duration(v)
                                .ok_or_else(|| self.err(line, format!("time: invalid duration {}", quote(v, false))))?;
                            if ns != 0 && ns < 1_000_000 {
                                return Err(self.err(line, format!("{} cannot be less than 1ms", name.to_lowercase())));
                            }
                            ns
                        }
                        None => 0,
                    };
                    if ns != 0 {
                        hc.insert(name.into(), json!(ns));
                    }
                    durs.push(ns);
                }
                let retries: i64 = match &h.retries {
                    Some(r) => r.parse().map_err(|_| self.err(line, format!("invalid retries value {r}")))?,
                    None => 0,
                };
                if retries != 0 {
                    hc.insert("Retries".into(), json!(retries));
                }
                self.stages[si].run.healthcheck = Some(Value::Object(hc));
                let retries_q = match u8::try_from(retries) {
                    Ok(b) if (0x20..0x7f).contains(&b) => format!("'{}'", b as char),
                    Ok(b) => format!("'\\x{b:02x}'"),
                    Err(_) => format!("%!q(int={retries})"),
                };
                let comment = format!(
                    "HEALTHCHECK &{{{} {} {} {} {}}}",
                    go_quote_list(&h.test),
                    quote(&duration_string(durs[0]), false),
                    quote(&duration_string(durs[1]), false),
                    quote(&duration_string(durs[2]), false),
                    retries_q
                );
                self.commit_meta(si, &comment, true)
            }
            Instruction::Onbuild(expr) => {
                self.stages[si].run.on_build.get_or_insert_with(Vec::new).push(expr.clone());
                self.commit_meta(si, &format!("ONBUILD {expr}"), true)
            }
            Instruction::Maintainer(m) => {
                let m = self.expand(line, m, &vars)?;
                self.stages[si].author = Some(m.clone());
                self.commit_meta(si, &format!("MAINTAINER {m}"), true)
            }
            Instruction::Copy(c) => self.copy(si, s, c, false),
            Instruction::Add(c) => self.copy(si, s, c, true),
            Instruction::Run { cmd, network, heredocs } => self.run_step(si, s, cmd, network.clone(), heredocs),
        }
    }

    /// Commits a step that changes only metadata (with a "container" like Docker's).
    pub(super) fn commit_meta(&mut self, si: usize, comment: &str, two_args: bool) -> Result<(), BuildError> {
        self.commit_nop(si, comment, two_args, |_| Ok(None))
    }

    /// Commits a step that runs nothing: its command is the shell with `#(nop) ` and `comment`
    /// (one argument, or two with `two_args`, as Docker writes each instruction's), its layer
    /// what `layer` makes once the step is not a cache hit (WORKDIR's missing directories).
    fn commit_nop(
        &mut self,
        si: usize,
        comment: &str,
        two_args: bool,
        layer: impl FnOnce(&Self) -> Result<Option<NewLayer>, BuildError>,
    ) -> Result<(), BuildError> {
        let st = &self.stages[si];
        let mut cc = st.run.clone();
        let mut cmd = st.shell();
        if two_args {
            cmd.push("#(nop) ".into());
            cmd.push(comment.to_string());
        } else {
            cmd.push(format!("#(nop) {comment}"));
        }
        cc.cmd = Some(cmd);
        cc.image = st.parent_str();
        let key = Self::cache_key(&st.parent_str(), &cc, "");
        if self.try_cache(si, &key)? {
            return Ok(());
        }
        let cid = random_id();
        self.say(&format!(" ---> Running in {}", &cid[..12]))?;
        let layer = layer(self)?;
        container_defaults(&mut cc, &cid);
        let id = self.commit(si, cc, layer, &cid)?;
        self.say(&format!("Removing intermediate container {}", &cid[..12]))?;
        self.finish_step(si, &key, id)
    }

    pub(super) fn workdir(&mut self, si: usize, dir: &str) -> Result<(), BuildError> {
        self.commit_nop(si, &format!("WORKDIR {dir}"), false, |b| {
            let view = b.view_of(b.stages[si].image.as_ref())?;
            if view.is_dir(dir) {
                return Ok(None);
            }
            // Create the directory (and missing parents) in a layer of its own.
            let now = chrono::Utc::now().timestamp();
            let entries = b.dir_chain(&view, dir.trim_start_matches('/'), 0, 0, now);
            Ok(Some(b.store_layer(entries)?))
        })
    }

    /// Directory entries for `path` and its ancestors: existing ones keep their
    /// metadata, missing ones are 0755 owned by uid:gid.
    pub(super) fn dir_chain(&self, view: &MergedView, path: &str, uid: u64, gid: u64, mtime: i64) -> Vec<LayerEntry> {
        let mut out = Vec::new();
        let mut cur = String::new();
        for c in path.split('/').filter(|c| !c.is_empty()) {
            if !cur.is_empty() {
                cur.push('/');
            }
            cur.push_str(c);
            let existing = view.lookup(&cur).and_then(|real| std::fs::metadata(&real).ok()).filter(|m| m.is_dir());
            out.push(match existing {
                Some(m) => LayerEntry {
                    path: cur.clone(),
                    data: EntryData::Dir,
                    mode: m.mode() & 0o7777,
                    uid: u64::from(m.uid()),
                    gid: u64::from(m.gid()),
                    mtime: m.mtime(),
                    xattrs: Vec::new(),
                },
                None => LayerEntry {
                    path: cur.clone(),
                    data: EntryData::Dir,
                    mode: 0o755,
                    uid,
                    gid,
                    mtime,
                    xattrs: Vec::new(),
                },
            });
        }
        out
    }
}
