//! The services some tests need besides the code: PostgreSQL (the storage suite's second
//! engine, the scale-out and object-storage tests) and moto's local S3 server (the
//! object-storage test). Before any test runs, each is made ready — found, started, or
//! installed — or the run stops saying what is missing and where the README explains it.

use crate::sh;
use crate::tools::{as_root, is_root, version_of};
use anyhow::{Context, Result, bail};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The variable naming the tests' PostgreSQL server.
pub const DATABASE_VAR: &str = "SOCIALCONNECT_TEST_DATABASE_URL";

/// The PostgreSQL server the tests use unless [`DATABASE_VAR`] says otherwise (trust auth
/// on loopback, as on the project's machines).
pub const TEST_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// Where the README says how to get the services.
const README: &str = "README.md, section \"Tests worth knowing\"";

/// The tests' PostgreSQL URL: [`DATABASE_VAR`] when set, else [`TEST_DATABASE_URL`].
pub fn database_url() -> String {
    std::env::var(DATABASE_VAR)
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| TEST_DATABASE_URL.to_owned())
}

/// What the tests' PostgreSQL URL names.
#[derive(Debug, PartialEq)]
pub struct PgTarget {
    url: url::Url,
    pub host: String,
    pub port: u16,
    /// The user, when the URL names one (trust auth needs no password).
    pub user: Option<String>,
    /// The database, when the URL names one.
    pub database: Option<String>,
}

impl PgTarget {
    pub fn parse(raw: &str) -> Result<PgTarget> {
        let url = url::Url::parse(raw)
            .ok()
            .filter(|u| matches!(u.scheme(), "postgres" | "postgresql"))
            .with_context(|| {
                format!(
                    "{DATABASE_VAR}={raw:?} is not a postgres:// URL (e.g. {TEST_DATABASE_URL}); \
                     every PostgreSQL test needs a server"
                )
            })?;
        let host = match url.host() {
            Some(url::Host::Ipv6(ip)) => ip.to_string(),
            Some(url::Host::Domain("")) | None => "localhost".to_owned(),
            Some(host) => host.to_string(),
        };
        let named = |s: &str| (!s.is_empty()).then(|| s.to_owned());
        Ok(PgTarget {
            host,
            port: url.port().unwrap_or(5432),
            user: named(url.username()),
            database: named(url.path().trim_start_matches('/')),
            url,
        })
    }

    /// Whether the server would run on this machine (the only kind xtask starts).
    pub fn is_local(&self) -> bool {
        matches!(self.host.as_str(), "localhost" | "127.0.0.1" | "::1")
    }

    /// The same server's `postgres` database, where a missing test database is created.
    pub fn maintenance_url(&self) -> String {
        let mut url = self.url.clone();
        url.set_path("/postgres");
        url.to_string()
    }

    /// Whether something accepts TCP connections at the host and port.
    fn listening(&self) -> bool {
        (self.host.as_str(), self.port)
            .to_socket_addrs()
            .into_iter()
            .flatten()
            .any(|a| TcpStream::connect_timeout(&a, Duration::from_secs(2)).is_ok())
    }
}

/// A cluster of Debian's `postgresql-common`, one line of `pg_lsclusters --no-header`.
#[derive(Debug, PartialEq)]
pub struct Cluster {
    pub version: String,
    pub name: String,
    pub port: u16,
    pub online: bool,
}

/// The clusters `pg_lsclusters --no-header` lists (lines it cannot read are left out).
pub fn parse_clusters(listing: &str) -> Vec<Cluster> {
    listing
        .lines()
        .filter_map(|line| {
            let mut cols = line.split_whitespace();
            let (version, name, port, status) =
                (cols.next()?, cols.next()?, cols.next()?, cols.next()?);
            Some(Cluster {
                version: version.to_owned(),
                name: name.to_owned(),
                port: port.parse().ok()?,
                online: status.starts_with("online"),
            })
        })
        .collect()
}

/// How to get a stopped local PostgreSQL running.
#[derive(Debug, PartialEq)]
pub enum Start<'a> {
    /// Start Debian's cluster on that port (`pg_ctlcluster VERSION NAME start`).
    Cluster(&'a Cluster),
    /// Create (once) and start a cluster of our own with trust auth, from these binaries.
    Own(PathBuf),
    /// Nothing to start it with: why, and what to do.
    Cannot(String),
}

/// The way to start `target`'s server, given Debian's clusters, the directory holding
/// `initdb` and `pg_ctl` if any, and whether we run as root (PostgreSQL refuses root).
pub fn how_to_start<'a>(
    target: &PgTarget,
    clusters: &'a [Cluster],
    bin: Option<PathBuf>,
    root: bool,
) -> Start<'a> {
    if !target.is_local() {
        return Start::Cannot(format!(
            "{}:{} is another machine: start PostgreSQL there, or point {DATABASE_VAR} at a \
             server you can reach",
            target.host, target.port
        ));
    }
    if let Some(cluster) = clusters.iter().find(|c| c.port == target.port) {
        return Start::Cluster(cluster);
    }
    match bin {
        None => Start::Cannot(format!(
            "PostgreSQL is not installed: `apt-get install postgresql` (or any server you can \
             create databases on, named by {DATABASE_VAR})"
        )),
        Some(_) if root => Start::Cannot(format!(
            "PostgreSQL does not run as root and no Debian cluster listens on port {port}: \
             create one (`pg_createcluster --start -p {port} VERSION test -- --auth=trust`), or \
             run as another user, for whom xtask keeps a cluster of its own",
            port = target.port
        )),
        Some(bin) => Start::Own(bin),
    }
}

/// Makes sure the tests' PostgreSQL answers a query: starts it when it is local and down
/// (Debian's cluster on that port, else a cluster of our own under
/// `~/.cache/socialconnect/pg`), creates the database when missing; otherwise fails saying
/// what is missing.
pub fn ensure_postgres(raw: &str) -> Result<()> {
    let target = PgTarget::parse(raw)?;
    let result = (|| {
        if !target.listening() {
            start(&target)?;
        }
        check_query(raw, &target)
    })();
    result.with_context(|| {
        format!("PostgreSQL for the tests ({DATABASE_VAR}={raw}) is not ready; see {README}")
    })
}

fn start(target: &PgTarget) -> Result<()> {
    let listing = Command::new("pg_lsclusters")
        .arg("--no-header")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    let clusters = parse_clusters(&listing);
    let start = how_to_start(target, &clusters, postgres_bin(), is_root());
    if !matches!(start, Start::Cannot(_)) {
        println!(
            "xtask: nothing listens on {}:{}; starting PostgreSQL",
            target.host, target.port
        );
    }
    match start {
        Start::Cluster(c) => {
            sh(as_root("pg_ctlcluster").args([&c.version, &c.name, "start"]))?;
        }
        Start::Own(bin) => start_own(target, &bin)?,
        Start::Cannot(why) => bail!("{why}"),
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while !target.listening() {
        if Instant::now() > deadline {
            bail!(
                "PostgreSQL was started but nothing listens on {}:{}",
                target.host,
                target.port
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Ok(())
}

/// The directory with `initdb` and `pg_ctl`: on `PATH`, else Debian's newest
/// `/usr/lib/postgresql/VERSION/bin`.
fn postgres_bin() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let on_path = std::env::split_paths(&path).find(|d| d.join("initdb").is_file());
    on_path.or_else(|| {
        let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .flatten()
            .filter_map(|e| {
                let version = e.file_name().to_str()?.parse().ok()?;
                let bin = e.path().join("bin");
                bin.join("initdb").is_file().then_some((version, bin))
            })
            .collect();
        versions.sort();
        versions.pop().map(|(_, bin)| bin)
    })
}

/// A cluster of our own in `~/.cache/socialconnect/pg` (made the first time with trust
/// auth and the URL's user as superuser), started on the URL's host and port with its
/// socket in the same directory.
fn start_own(target: &PgTarget, bin: &Path) -> Result<()> {
    let home = std::env::var_os("HOME").context("HOME is not set")?;
    let dir = PathBuf::from(home).join(".cache/socialconnect/pg");
    if !dir.join("PG_VERSION").exists() {
        std::fs::create_dir_all(&dir)?;
        sh(Command::new(bin.join("initdb"))
            .arg("-D")
            .arg(&dir)
            .args(["--auth=trust", "--encoding=UTF8", "-U"])
            .arg(target.user.as_deref().unwrap_or("postgres")))?;
    }
    let options = format!(
        "-c listen_addresses={} -p {} -k {}",
        target.host,
        target.port,
        dir.display()
    );
    sh(Command::new(bin.join("pg_ctl"))
        .arg("-D")
        .arg(&dir)
        .arg("-l")
        .arg(dir.join("server.log"))
        .args(["-w", "-o", &options, "start"]))
}

/// `SELECT 1` through `psql` (only the port is checked when there is no `psql`); a missing
/// database is created on the same server.
fn check_query(raw: &str, target: &PgTarget) -> Result<()> {
    if version_of("psql").is_none() {
        println!(
            "xtask: PostgreSQL listens on {}:{} (no psql here to try a query)",
            target.host, target.port
        );
        return Ok(());
    }
    let psql = |url: &str, sql: &str| {
        Command::new("psql")
            .args([
                "-X",
                "-w",
                "-q",
                "-A",
                "-t",
                "-v",
                "ON_ERROR_STOP=1",
                "-d",
                url,
                "-c",
                sql,
            ])
            .stdin(Stdio::null())
            .output()
            .context("running psql")
    };
    let out = psql(raw, "SELECT 1")?;
    if out.status.success() {
        return Ok(());
    }
    let err = String::from_utf8_lossy(&out.stderr).trim().to_owned();
    match &target.database {
        Some(db) if err.contains(&format!("database \"{db}\" does not exist")) => {
            println!("xtask: creating database {db:?}");
            let quoted = db.replace('"', "\"\"");
            let made = psql(
                &target.maintenance_url(),
                &format!("CREATE DATABASE \"{quoted}\""),
            )?;
            if !made.status.success() {
                bail!(
                    "database {db:?} is missing and cannot be created: {}",
                    String::from_utf8_lossy(&made.stderr).trim()
                );
            }
            Ok(())
        }
        _ => bail!(
            "PostgreSQL at {}:{} refuses the tests' connection: {err}\n(the tests connect \
             without a password unless the URL has one, and create databases there)",
            target.host,
            target.port
        ),
    }
}

/// A local S3 server for the object-storage test: moto's `moto_server`, from PyPI with
/// pip when missing. The test starts it on a port of its own; here it must be on `PATH`.
pub fn ensure_moto() -> Result<()> {
    let found = || {
        Command::new("moto_server")
            .arg("--help")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if found() {
        return Ok(());
    }
    let pip = ["pip3", "pip"]
        .into_iter()
        .find(|p| version_of(p).is_some())
        .with_context(|| {
            format!(
                "moto_server (the local S3 server the object-storage test starts) is missing \
                 and there is no pip to install it with: `apt-get install python3-pip`, then \
                 `pip install 'moto[server]'`; see {README}"
            )
        })?;
    sh(Command::new(pip).args(["install", "--quiet", "moto[server]"])).with_context(|| {
        format!(
            "moto_server (the local S3 server the object-storage test starts) is missing and \
             {pip} could not install it: install `moto[server]` another way (`pipx install \
             'moto[server]'`, or pip in a virtualenv) so that moto_server is on PATH; see \
             {README}"
        )
    })?;
    if !found() {
        bail!(
            "{pip} installed moto, but moto_server is not on PATH: add pip's scripts directory \
             (e.g. ~/.local/bin) to PATH; see {README}"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_parts_of_a_database_url() {
        let t = PgTarget::parse(TEST_DATABASE_URL).unwrap();
        assert_eq!(
            (
                t.host.as_str(),
                t.port,
                t.user.as_deref(),
                t.database.as_deref()
            ),
            ("127.0.0.1", 5432, Some("postgres"), Some("test"))
        );
        assert!(t.is_local());
        assert_eq!(
            t.maintenance_url(),
            "postgres://postgres@127.0.0.1:5432/postgres"
        );

        let t = PgTarget::parse("postgresql://me:secret@[::1]:6543/db?sslmode=disable").unwrap();
        assert_eq!((t.host.as_str(), t.port), ("::1", 6543));
        assert!(t.is_local());
        assert_eq!(
            t.maintenance_url(),
            "postgresql://me:secret@[::1]:6543/postgres?sslmode=disable"
        );

        let t = PgTarget::parse("postgres:///db").unwrap();
        assert_eq!((t.host.as_str(), t.port), ("localhost", 5432));

        let t = PgTarget::parse("postgres://db.example.com").unwrap();
        assert_eq!((t.host.as_str(), t.port), ("db.example.com", 5432));
        assert_eq!((&t.user, &t.database), (&None, &None));
        assert!(!t.is_local());
    }

    #[test]
    fn refuses_what_is_not_a_postgres_url() {
        for raw in ["off", "", "mysql://root@127.0.0.1/test", "127.0.0.1:5432"] {
            let err = PgTarget::parse(raw).unwrap_err().to_string();
            assert!(err.contains(DATABASE_VAR), "{err}");
        }
    }

    #[test]
    fn reads_debians_cluster_list() {
        let listing = "15  main    5432 online postgres /var/lib/postgresql/15/main /var/log/x.log\n\
                       16  test    5433 down   postgres /var/lib/postgresql/16/test /var/log/y.log\n\
                       garbage\n";
        assert_eq!(
            parse_clusters(listing),
            [
                Cluster {
                    version: "15".into(),
                    name: "main".into(),
                    port: 5432,
                    online: true
                },
                Cluster {
                    version: "16".into(),
                    name: "test".into(),
                    port: 5433,
                    online: false
                },
            ]
        );
    }

    #[test]
    fn starts_debians_cluster_then_its_own_and_says_why_not() {
        let clusters = parse_clusters("16 test 5433 down postgres /d /l\n");
        let bin = Some(PathBuf::from("/usr/lib/postgresql/16/bin"));
        let on = |url: &str| PgTarget::parse(url).unwrap();

        let debian = on("postgres://postgres@127.0.0.1:5433/test");
        assert_eq!(
            how_to_start(&debian, &clusters, None, true),
            Start::Cluster(&clusters[0])
        );

        let own = on("postgres://postgres@localhost:5432/test");
        assert_eq!(
            how_to_start(&own, &clusters, bin.clone(), false),
            Start::Own(bin.clone().unwrap())
        );

        let says = |start: Start| match start {
            Start::Cannot(why) => why,
            other => panic!("{other:?}"),
        };
        assert!(says(how_to_start(&own, &clusters, bin.clone(), true)).contains("root"));
        assert!(says(how_to_start(&own, &[], None, false)).contains("apt-get install postgresql"));
        let remote = on("postgres://postgres@db.example.com:5433/test");
        assert!(says(how_to_start(&remote, &clusters, bin, false)).contains("another machine"));
    }
}
