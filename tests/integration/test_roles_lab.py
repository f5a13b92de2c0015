"""The four roles on the lab: converge, check mode and a second run change nothing.

Real runs of tests/integration/playbooks/roles_lab.yml against the lab hosts
(sanlock, shared_storage, host_id, libvirt, cleanup_schedule), then the state
each role promises, read on every host.
"""

import json
import re

import pytest

pytestmark = pytest.mark.lab

PLAYBOOK = "tests/integration/playbooks/roles_lab.yml"


def recap(output):
    rows = re.findall(r"^(\S+)\s*:\s*ok=\d+\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", output, re.M)
    assert rows, output[-3000:]
    return {host: (int(changed), int(unreachable), int(failed)) for host, changed, unreachable, failed in rows}


@pytest.fixture(scope="module")
def converged(lab):
    res = lab.ansible(PLAYBOOK, check=True)
    counts = recap(res.stdout)
    assert set(counts) == set(lab.hosts)
    return lab


def test_check_mode_then_second_run_change_nothing(converged):
    for args in ([PLAYBOOK, "--check"], [PLAYBOOK]):
        res = converged.ansible(*args, check=True)
        for host, (changed, _unreachable, failed) in recap(res.stdout).items():
            assert (changed, failed) == (0, 0), "%s: %s reported changes:\n%s" % (" ".join(args), host,
                                                                                  res.stdout[-4000:])


def test_every_host_mounts_the_storage_and_joined_with_its_host_id(converged):
    ids = set()
    for host in converged.hosts:
        out = converged.run(host, "findmnt -n -o TARGET /var/lib/libvirt/sanlock; "
                                  "grep -c ' /var/lib/libvirt/sanlock ' /etc/fstab; "
                                  "stat -c '%U:%G %a' /var/lib/libvirt/sanlock; sanlock client gets").stdout
        lines = [line.strip() for line in out.splitlines()]
        assert lines[0] == "/var/lib/libvirt/sanlock" and lines[1] == "1", out
        assert lines[2] == "sanlock:sanlock 775", out
        joined = [line for line in lines if line.startswith("s __LIBVIRT__DISKS__:")]
        assert len(joined) == 1, out
        host_id = int(joined[0].split(":")[1])
        conf = converged.run(host, "grep '^host_id' /etc/libvirt/qemu-sanlock.conf").stdout
        assert conf.strip() == "host_id = %d" % host_id
        ids.add(host_id)
    assert len(ids) == len(converged.hosts), "host_ids are not unique: %s" % ids


def test_config_files_parse_and_qemu_conf_changed_in_one_line_only(converged):
    for host in converged.hosts:
        run = converged.run
        parsed = run(host, 'augtool -A -L -t "Libvirt_sanlock.lns incl /etc/libvirt/qemu-sanlock.conf" errors; '
                           'augtool -A -L -t "Libvirtd_qemu.lns incl /etc/libvirt/qemu.conf" errors').stdout
        assert parsed.split("\n").count("  (no errors)") == 2, parsed
        active = run(host, "grep -n '^[[:space:]]*lock_manager' /etc/libvirt/qemu.conf").stdout.splitlines()
        assert [line.split(":", 1)[1] for line in active] == ['lock_manager = "sanlock"'], active
        # Everything else is the package's file plus the lab image's own line.
        others = run(host, "grep -v '^#' /etc/libvirt/qemu.conf | grep -v '^[[:space:]]*$'").stdout.splitlines()
        assert sorted(others) == sorted(['lock_manager = "sanlock"', "cgroup_controllers = [ ]"]), others
        conf = run(host, "cat /etc/sanlock/sanlock.conf").stdout
        assert "our_host_name = %s\n" % host in conf and "max_worker_threads = 8\n" in conf, conf


CRON = "/etc/cron.d/autolease-sanlock-cleanup"


def cleaners(lab):
    """The hosts that have the cleanup cron job."""
    return [host for host in lab.hosts if lab.run(host, "test -e %s" % CRON, check=False).returncode == 0]


def test_cleanup_job_on_the_first_host_only_and_it_runs(converged):
    first = sorted(converged.hosts)[0]
    assert cleaners(converged) == [first]
    cron = converged.run(first, "cat %s" % CRON).stdout
    assert re.search(r"(?m)^30 3 \* \* 0 root /usr/local/sbin/autolease-sanlock-cleanup$", cron), cron
    settings = json.loads(converged.run(first, "cat /etc/autolease-sanlock/cleanup.json").stdout)
    assert settings["lease_dir"] == "/var/lib/libvirt/sanlock", settings
    # journald may take a moment to show the last line: wait for this run's summary (lines since it started).
    res = converged.run(first, "since=$(date '+%Y-%m-%d %H:%M:%S'); sleep 1; "
                               "/usr/local/sbin/autolease-sanlock-cleanup --check; echo rc=$?; "
                               "for i in $(seq 50); do journalctl -t autolease-sanlock-cleanup --since \"$since\" "
                               "--no-pager | grep -q 'checked ' && break; sleep 0.2; done; "
                               "journalctl -t autolease-sanlock-cleanup --since \"$since\" --no-pager")
    assert "rc=0" in res.stdout and "checked /var/lib/libvirt/sanlock" in res.stdout, res.stdout


def test_a_limited_run_on_another_host_leaves_one_cleaner(converged):
    """site.yml --limit <not the first host> must not install a second cleanup job (issue 11, section 3).

    Failed before the fix: the job went to the first host of the play, the limited host, and the first host of
    the inventory kept its own.
    """
    first, other = sorted(converged.hosts)[0], sorted(converged.hosts)[-1]
    assert first != other, "needs a lab of two hosts or more"
    converged.ansible("playbooks/site.yml", "--limit", other, check=True)
    assert cleaners(converged) == [first]
    # A job left on a host that is not designated (an older rollout) goes at the next run that includes it.
    converged.run(other, "echo '30 3 * * 0 root /usr/local/sbin/autolease-sanlock-cleanup' > %s" % CRON)
    converged.ansible("playbooks/site.yml", "--limit", other, check=True)
    assert cleaners(converged) == [first]
    # Moving the job to the limited host would leave the first host's job: refused before any change.
    res = converged.ansible("playbooks/site.yml", "--limit", other, "-e", "cleanup_schedule_host=%s" % other)
    assert res.returncode != 0, res.stdout[-3000:]
    assert "The cleanup job moves to %s, but %s (designated before" % (other, first) in res.stdout, res.stdout[-4000:]
    assert cleaners(converged) == [first]
