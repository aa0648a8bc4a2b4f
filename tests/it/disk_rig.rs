//! Shared disks for the cluster tests (DESIGN §8, §10). Each node gets a mount namespace of
//! its own, so a volume mounted on one node is not mounted on the other, as on two servers.
//! A shared disk is one image file seen by the two nodes through two loop devices: alpha's
//! over a FUSE mount of the file's directory (`bindfs`), beta's over the file itself. Killing
//! the FUSE process makes every I/O of alpha's device fail (EIO); stopping it makes that I/O
//! hang: alpha's path to the disk fails while beta's stays good.
//!
//! Everything is undone on drop, stopped FUSE processes first (or the nodes' processes,
//! stuck in their I/O, could not be killed).

#![allow(dead_code)]

use crate::harness::*;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

static N: AtomicU32 = AtomicU32::new(0);

fn run(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program} must be installed: {e}"));
    assert!(
        out.status.success(),
        "{program} {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn mounted_in(mountinfo: &str, point: &str) -> bool {
    mountinfo
        .lines()
        .any(|l| l.split(' ').nth(4) == Some(point))
}

fn mounted_here(point: &str) -> bool {
    mounted_in(
        &fs::read_to_string("/proc/self/mountinfo").unwrap_or_default(),
        point,
    )
}

/// A mount namespace kept alive by a bind mount of its namespace file, with a sleeping
/// process in it whose mount table the test reads.
pub struct MountNs {
    pub file: PathBuf,
    sleeper: Child,
}

const NS_DIR: &str = "/run/sureha-it-mnt";

impl MountNs {
    pub fn new(tag: &str) -> MountNs {
        fs::create_dir_all(NS_DIR).unwrap();
        // Namespace files can only be bind-mounted on a private mount (as `ip netns` does).
        if !mounted_here(NS_DIR) {
            let _ = Command::new("mount")
                .args(["--bind", NS_DIR, NS_DIR])
                .status();
        }
        run("mount", &["--make-private", NS_DIR]);
        let n = N.fetch_add(1, Ordering::SeqCst);
        let file = PathBuf::from(format!("{NS_DIR}/{}-{n}-{tag}", std::process::id()));
        fs::write(&file, b"").unwrap();
        run(
            "unshare",
            &[
                &format!("--mount={}", file.display()),
                "--propagation",
                "private",
                "true",
            ],
        );
        let sleeper = Command::new("nsenter")
            .arg(format!("--mount={}", file.display()))
            // As long as any run (a chaos run lasts hours); killed on drop.
            .args(["sleep", "86400"])
            .stdin(Stdio::null())
            .spawn()
            .expect("nsenter (util-linux) must be installed");
        let ns = MountNs { file, sleeper };
        // The sleeper is in the namespace once its mount table differs from ours.
        let until = Instant::now() + Duration::from_secs(5);
        while Instant::now() < until
            && fs::read_link(format!("/proc/{}/ns/mnt", ns.sleeper.id())).ok()
                == fs::read_link("/proc/self/ns/mnt").ok()
        {
            std::thread::sleep(Duration::from_millis(10));
        }
        ns
    }

    /// The file that holds this namespace's mount table.
    pub fn mountinfo(&self) -> PathBuf {
        PathBuf::from(format!("/proc/{}/mountinfo", self.sleeper.id()))
    }

    /// Whether something is mounted on `point` in this namespace now.
    pub fn mounted(&self, point: &str) -> bool {
        mounted_in(
            &fs::read_to_string(format!("/proc/{}/mountinfo", self.sleeper.id()))
                .unwrap_or_default(),
            point,
        )
    }
}

impl Drop for MountNs {
    fn drop(&mut self) {
        let _ = self.sleeper.kill();
        let _ = self.sleeper.wait();
        let _ = Command::new("umount").arg(&self.file).status();
        let _ = fs::remove_file(&self.file);
    }
}

/// A directory seen through a FUSE mount (bindfs, no cache), whose process the test can kill
/// or stop.
pub struct FuseDir {
    pub src: PathBuf,
    pub mnt: PathBuf,
    fuse: Child,
    stopped: bool,
}

impl FuseDir {
    pub fn new(tag: &str) -> FuseDir {
        let n = N.fetch_add(1, Ordering::SeqCst);
        let base =
            std::env::temp_dir().join(format!("sureha-fuse-{}-{n}-{tag}", std::process::id()));
        let (src, mnt) = (base.join("src"), base.join("mnt"));
        fs::create_dir_all(&src).unwrap();
        fs::create_dir_all(&mnt).unwrap();
        let fuse = Command::new("bindfs")
            .args(["-f", "-o", "direct_io"])
            .arg(&src)
            .arg(&mnt)
            .stdin(Stdio::null())
            .spawn()
            .expect("bindfs must be installed (apt-get install bindfs)");
        let point = mnt.display().to_string();
        let until = Instant::now() + Duration::from_secs(10);
        while !mounted_here(&point) && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(mounted_here(&point), "bindfs did not mount {point}");
        FuseDir {
            src,
            mnt,
            fuse,
            stopped: false,
        }
    }

    /// An image file of `mib` MiB in the directory.
    pub fn image(&self, name: &str, mib: u64) -> (PathBuf, PathBuf) {
        let f = fs::File::create(self.src.join(name)).unwrap();
        f.set_len(mib << 20).unwrap();
        (self.src.join(name), self.mnt.join(name))
    }

    /// A new FUSE process on the same directories (the old mount, dead, is detached first).
    pub fn restart(&mut self) {
        self.kill();
        let _ = Command::new("umount").arg("-l").arg(&self.mnt).status();
        self.fuse = Command::new("bindfs")
            .args(["-f", "-o", "direct_io"])
            .arg(&self.src)
            .arg(&self.mnt)
            .stdin(Stdio::null())
            .spawn()
            .expect("bindfs");
        let point = self.mnt.display().to_string();
        let until = Instant::now() + Duration::from_secs(10);
        while !mounted_here(&point) && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(mounted_here(&point), "bindfs did not mount {point} again");
    }

    /// Every I/O through the mount fails from now on.
    pub fn kill(&mut self) {
        self.resume();
        let _ = self.fuse.kill();
        let _ = self.fuse.wait();
    }

    /// Every I/O through the mount hangs until `resume`.
    pub fn stop(&mut self) {
        let _ = sureha::sys::kill(self.fuse.id(), libc::SIGSTOP);
        self.stopped = true;
    }

    pub fn resume(&mut self) {
        if self.stopped {
            let _ = sureha::sys::kill(self.fuse.id(), libc::SIGCONT);
            self.stopped = false;
        }
    }
}

impl Drop for FuseDir {
    fn drop(&mut self) {
        self.kill();
        let _ = Command::new("umount").arg("-l").arg(&self.mnt).status();
        if let Some(base) = self.src.parent() {
            let _ = fs::remove_dir_all(base);
        }
    }
}

/// A loop device over a file; detached on drop.
pub struct Loop {
    pub dev: String,
}

impl Loop {
    pub fn new(file: &Path, direct: bool) -> Loop {
        let f = file.display().to_string();
        let mut args = vec!["-f", "--show"];
        if direct {
            args.push("--direct-io=on");
        }
        args.push(&f);
        Loop {
            dev: run("losetup", &args),
        }
    }
}

impl Drop for Loop {
    fn drop(&mut self) {
        for _ in 0..20 {
            if Command::new("losetup")
                .args(["-d", &self.dev])
                .output()
                .is_ok_and(|o| o.status.success())
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// The disks of a pair: a lease device for the disk link and an ext4 data volume, each on
/// its own FUSE mount for alpha.
pub struct DiskRig {
    /// What alpha's configuration names as its data device: a link to `data_a`, so a
    /// repaired path can be a new loop device under the same name.
    pub data_a_name: PathBuf,
    pub lease_a: Loop,
    pub lease_b: Loop,
    pub data_a: Loop,
    pub data_b: Loop,
    pub lease_fuse: FuseDir,
    pub data_fuse: FuseDir,
    pub mount_point: String,
    pub fence: PathBuf,
}

impl DiskRig {
    pub fn new() -> DiskRig {
        DiskRig::sized(256)
    }

    /// With a data volume of `data_mib` MiB (a sparse file).
    pub fn sized(data_mib: u64) -> DiskRig {
        let lease_fuse = FuseDir::new("lease");
        let data_fuse = FuseDir::new("data");
        let (lease_src, lease_mnt) = lease_fuse.image("lease.img", 1);
        let (data_src, data_mnt) = data_fuse.image("data.img", data_mib);
        let lease_a = Loop::new(&lease_mnt, true);
        let lease_b = Loop::new(&lease_src, false);
        let data_a = Loop::new(&data_mnt, true);
        let data_b = Loop::new(&data_src, false);
        run("mkfs.ext4", &["-q", "-F", &data_b.dev]);
        let data_a_name = data_fuse.src.parent().unwrap().join("data-a");
        std::os::unix::fs::symlink(&data_a.dev, &data_a_name).unwrap();
        let n = N.fetch_add(1, Ordering::SeqCst);
        let mount_point = std::env::temp_dir()
            .join(format!("sureha-vol-{}-{n}", std::process::id()))
            .display()
            .to_string();
        fs::create_dir_all(&mount_point).unwrap();
        // What a fence does in these tests: the node's mounts and floating addresses go (as
        // in a reboot) and every process of the node dies (as in a crash).
        let fence = lease_fuse.src.parent().unwrap().join("fence.sh");
        fs::write(
            &fence,
            format!(
                "#!/bin/sh\n# A reboot, as fast as this rig can make one: every process of the node frozen at once\n# (nothing restarts anything), its floating addresses and mounts gone, then the processes\n# killed. One grep finds them: a fence that takes seconds would outlast the lease.\nH=$HAHOME\nunset HAHOME\necho \"fenced: $1\" >> \"$H/tmp/fenced\"\nmine() {{ grep -lzx \"HAHOME=$H\" /proc/[0-9]*/environ 2>/dev/null | cut -d/ -f3 | grep -vx \"$$\"; }}\npids=$(mine)\n[ -n \"$pids\" ] && kill -STOP $pids 2>/dev/null\nip -o -4 addr show | while read -r _ dev _ addr _; do\n  case $addr in 192.0.2.1[0-9][0-9]/*) ip addr del \"$addr\" dev \"$dev\" ;; esac\ndone\numount -l {mount_point} 2>/dev/null\nfor round in 1 2 3 4 5; do\n  [ -z \"$pids\" ] && break\n  kill -STOP $pids 2>/dev/null\n  kill -9 $pids 2>/dev/null\n  sleep 0.1\n  pids=$(mine)\ndone\nexit 0\n"
            ),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&fence, fs::Permissions::from_mode(0o755)).unwrap();
        let rig = DiskRig {
            data_a_name,
            lease_a,
            lease_b,
            data_a,
            data_b,
            lease_fuse,
            data_fuse,
            mount_point,
            fence,
        };
        let init = Command::new(env!("CARGO_BIN_EXE_havol"))
            .args(["init", &rig.lease_b.dev])
            .output()
            .unwrap();
        assert!(init.status.success(), "havol init: {init:?}");
        rig
    }

    /// The configuration: the private socket link, the disk link, the fence, and service
    /// `db` on the shared volume; `extra` adds keys to the service.
    /// Alpha's data path repaired: a new FUSE process and a new loop device under the name
    /// alpha's configuration uses.
    pub fn repair_data_a(&mut self) {
        self.data_fuse.restart();
        let fresh = Loop::new(&self.data_fuse.mnt.join("data.img"), true);
        let tmp = self.data_a_name.with_extension("new");
        let _ = fs::remove_file(&tmp);
        std::os::unix::fs::symlink(&fresh.dev, &tmp).unwrap();
        fs::rename(&tmp, &self.data_a_name).unwrap();
        // The old device goes when `fresh` takes its place (detached on drop).
        self.data_a = fresh;
    }

    /// Runs `f` with the data volume mounted in this test's own mount namespace (the nodes'
    /// are private), at a path it is given; unmounted afterwards, even if `f` panics.
    pub fn with_volume(&self, f: impl FnOnce(&str)) {
        let tmp = format!("{}-init", self.mount_point);
        fs::create_dir_all(&tmp).unwrap();
        let out = std::process::Command::new("mount")
            .args([&self.data_b.dev, &tmp])
            .output()
            .unwrap();
        assert!(out.status.success(), "mount: {out:?}");
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&tmp)));
        let _ = std::process::Command::new("umount").arg(&tmp).output();
        let _ = fs::remove_dir(&tmp);
        if let Err(e) = result {
            std::panic::resume_unwind(e);
        }
    }

    /// The cluster's configuration: service db on the volume, with `extra` keys (`@MOUNT@`
    /// in them is the mount point). Unless `extra` names a type (whose shipped scripts then
    /// run it), the tests' own scripts.
    pub fn config(&self, interval: &str, extra: &str) -> String {
        let extra = extra.replace("@MOUNT@", &self.mount_point);
        let scripts = if extra.contains("type = ") {
            ""
        } else {
            "start = svc.start\nstop = svc.stop\n"
        };
        format!(
            "{}\n[privnet dlink]\ntype = disk\nhost1 = alpha\nhost2 = beta\ndevice1 = {}\ndevice2 = {}\ninterval = {interval}\nmaxmiss = 3\n\n[admin]\nfence = {}\n\n[service db]\nactive_server = alpha\nstandby_server = beta\n{scripts}volume = {} {} {}\n{extra}",
            ns_config(interval, ""),
            self.lease_a.dev,
            self.lease_b.dev,
            self.fence.display(),
            self.data_a_name.display(),
            self.data_b.dev,
            self.mount_point
        )
    }
}

/// Two nodes in network and mount namespaces of their own, with shared disks. Fields drop in
/// order: nodes, then their mount namespaces (unmounting what they hold), then the disks.
pub struct DiskCluster {
    pub nodes: NsCluster,
    pub mnt_a: MountNs,
    pub mnt_b: MountNs,
    pub rig: DiskRig,
}

impl std::ops::Deref for DiskCluster {
    type Target = NsCluster;
    fn deref(&self) -> &NsCluster {
        &self.nodes
    }
}

impl DiskCluster {
    pub fn new(interval: &str, extra: &str) -> DiskCluster {
        DiskCluster::with_rig(DiskRig::new(), interval, extra)
    }

    pub fn with_rig(rig: DiskRig, interval: &str, extra: &str) -> DiskCluster {
        let mnt_a = MountNs::new("alpha");
        let mnt_b = MountNs::new("beta");
        let mut nodes = NsCluster::new(&rig.config(interval, extra));
        nodes.nodes.alpha.mntns = Some(mnt_a.file.clone());
        nodes.nodes.beta.mntns = Some(mnt_b.file.clone());
        DiskCluster {
            nodes,
            mnt_a,
            mnt_b,
            rig,
        }
    }

    pub fn rig_mut(&mut self) -> &mut DiskRig {
        &mut self.rig
    }

    /// Where the volume is mounted now: (on alpha, on beta).
    pub fn mounted(&self) -> (bool, bool) {
        let p = &self.rig.mount_point;
        (self.mnt_a.mounted(p), self.mnt_b.mounted(p))
    }

    /// A crash of a node: its processes killed, its cables out, and its mounts gone (the
    /// kernel of a crashed server holds nothing; here the one kernel would).
    pub fn crash_node(&self, name: &str) {
        self.crash(name);
        let ns = if name == "alpha" {
            &self.mnt_a
        } else {
            &self.mnt_b
        };
        let mp = &self.rig.mount_point;
        for args in [vec![mp.as_str()], vec!["-l", mp.as_str()]] {
            if !ns.mounted(mp) {
                break;
            }
            let _ = Command::new("nsenter")
                .arg(format!("--mount={}", ns.file.display()))
                .arg("umount")
                .args(&args)
                .status();
        }
    }

    /// Starts both nodes and waits until they see each other on the disk link too.
    pub fn start_all(&self) {
        self.start();
        for n in [&self.alpha, &self.beta] {
            n.wait_for("the disk link to be up", Duration::from_secs(10), || {
                n.haadm(&["status"]).stdout.contains("LINK dlink disk OK")
            });
        }
    }
}

impl Drop for DiskCluster {
    fn drop(&mut self) {
        // Processes stuck in I/O on a stopped FUSE mount die only once it runs again.
        self.rig.lease_fuse.resume();
        self.rig.data_fuse.resume();
    }
}

/// Samples both nodes' mount tables every few milliseconds in a thread, and remembers any
/// instant the volume was mounted on both, and when each node last changed.
pub struct MountWatch {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    pub both: std::sync::Arc<std::sync::atomic::AtomicU32>,
    pub samples: std::sync::Arc<std::sync::atomic::AtomicU32>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl MountWatch {
    pub fn start(c: &DiskCluster) -> MountWatch {
        use std::sync::atomic::{AtomicBool, AtomicU32};
        use std::sync::Arc;
        let stop = Arc::new(AtomicBool::new(false));
        let both = Arc::new(AtomicU32::new(0));
        let samples = Arc::new(AtomicU32::new(0));
        let files = [
            format!("/proc/{}/mountinfo", c.mnt_a.sleeper.id()),
            format!("/proc/{}/mountinfo", c.mnt_b.sleeper.id()),
        ];
        let point = c.rig.mount_point.clone();
        let (s, b, n) = (Arc::clone(&stop), Arc::clone(&both), Arc::clone(&samples));
        let handle = std::thread::spawn(move || {
            let until = Instant::now() + Duration::from_secs(600);
            while !s.load(Ordering::SeqCst) && Instant::now() < until {
                let on = files
                    .iter()
                    .filter(|f| mounted_in(&fs::read_to_string(f).unwrap_or_default(), &point))
                    .count();
                if on == 2 {
                    b.fetch_add(1, Ordering::SeqCst);
                }
                n.fetch_add(1, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(5));
            }
        });
        MountWatch {
            stop,
            both,
            samples,
            handle: Some(handle),
        }
    }

    /// (samples taken, samples with the volume mounted on both nodes)
    pub fn finish(mut self) -> (u32, u32) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
        (
            self.samples.load(Ordering::SeqCst),
            self.both.load(Ordering::SeqCst),
        )
    }
}

impl Drop for MountWatch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}
