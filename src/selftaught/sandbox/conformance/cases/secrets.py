"""Secrets and held-out data: nothing of the host's environment, files, store, configuration or
held-out test instances reaches a program (the host's filesystem is invisible at tier A)."""

from __future__ import annotations

from selftaught.sandbox.conformance.case import Case, no_marker

A = "secrets"


def _no_key_names(value: object) -> bool:
    return no_marker(value) and isinstance(value, dict) and not any("KEY" in k or "TOKEN" in k for k in value)


READ = "def attack(ctx):\n    try:\n        return open({path}).read()\n    except OSError as e:\n        return str(e)\n"

CASES = [
    Case("env_secrets", A, "the process environment", "import os\ndef attack(ctx):\n    return dict(os.environ)\n",
         contained=_no_key_names),
    Case("proc_host_environ", A, "the environment of every visible process, the host's included",
         "import os, glob\ndef attack(ctx):\n    got = []\n"
         "    for p in glob.glob('/proc/[0-9]*/environ') + ['/proc/%d/environ' % ctx['host_pid']]:\n"
         "        try:\n            got.append(open(p, 'rb').read().decode('latin1'))\n"
         "        except OSError:\n            pass\n    return got\n", tiers="A", contained=no_marker),
    Case("proc_parent_environ", A, "the environment of the process that started the program (a zygote)",
         "import os\ndef attack(ctx):\n    try:\n"
         "        return open('/proc/%d/environ' % os.getppid(), 'rb').read().decode('latin1')\n"
         "    except OSError as e:\n        return str(e)\n", tiers="AB", contained=no_marker),
    Case("proc_host_cmdline", A, "the command lines of every visible process (the test runner's)",
         "import glob\ndef attack(ctx):\n    out = []\n"
         "    for p in glob.glob('/proc/[0-9]*/cmdline'):\n        try:\n"
         "            out.append(open(p, 'rb').read().decode('latin1'))\n        except OSError:\n"
         "            pass\n    return out\n", tiers="A", contained=lambda v: not any("pytest" in c for c in v)),
    Case("home_files", A, "a secret file in the user's home", READ.format(path="ctx['home_file']"), tiers="A",
         contained=no_marker),
    Case("run_store", A, "the run store", "def attack(ctx):\n    return open(ctx['store']).read()\n", ("error",),
         "A"),
    Case("held_out_by_path", A, "the held-out instances, by their path",
         "def attack(ctx):\n    return open(ctx['held_out']).read()\n", ("error",), "A"),
    Case("held_out_instances", A, "the held-out instances, by walking every visible directory",
         "import os\ndef attack(ctx):\n    found = []\n"
         "    for top in ('/', '/tmp', '/work', '/root', ctx['root']):\n"
         "        for d, _, files in os.walk(top):\n            if d.startswith('/proc') or d.startswith('/usr'):\n"
         "                continue\n            for f in files:\n                try:\n"
         "                    if 'test' in f and ctx['marker'] in open(os.path.join(d, f), errors='replace').read(1 << 16):\n"
         "                        found.append(os.path.join(d, f))\n"
         "                except Exception:\n                    pass\n    return found\n", tiers="A",
         contained=lambda v: v == []),
    Case("config_file", A, "the configuration file with the model's API key",
         "def attack(ctx):\n    return open(ctx['config']).read()\n", ("error",), "A"),
    Case("list_host_run_dir", A, "a listing of the host's run directory",
         "import os\ndef attack(ctx):\n    return os.listdir(ctx['root'] + '/run')\n", ("error",), "A"),
    Case("proc_root_escape", A, "the host's root through /proc/1/root",
         "import os\ndef attack(ctx):\n    return os.listdir('/proc/1/root')\n", ("ok", "error"), "A",
         contained=lambda v: v is None or ("home" not in v and "etc" not in v)),
    Case("proc_host_cwd", A, "the host's working directory through /proc/<host>/cwd",
         "import os\ndef attack(ctx):\n    return os.listdir('/proc/%d/cwd' % ctx['host_pid'])\n",
         ("error",), "A"),
    Case("mountinfo_host_paths", A, "host paths named in the mount table",
         "def attack(ctx):\n    return open('/proc/self/mountinfo').read()\n", tiers="A",
         contained=lambda v: isinstance(v, str) and "selftaught-conformance-host" not in v),
    Case("symlink_to_held_out", A, "a symlink in scratch pointing at the held-out instances",
         "import os\ndef attack(ctx):\n    os.symlink(ctx['held_out'], 'link')\n    return open('link').read()\n",
         ("error",), "A"),
]
