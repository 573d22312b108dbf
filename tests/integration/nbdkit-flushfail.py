# An nbdkit plugin (python) for tests: a file whose FLUSH fails with EIO
# while flush-fail-file exists (nbdkit's error filter cannot fail a
# flush). A FUA write flushes, so it fails too. Used by faultlib.sh
# (fault_dev_flush).
import errno, os
import nbdkit

API_VERSION = 2
path = None
failfile = None

def config(key, value):
    global path, failfile
    if key == "file":
        path = value
    elif key == "flush-fail-file":
        failfile = value
    else:
        raise RuntimeError("unknown key " + key)

def open(readonly):
    return os.open(path, os.O_RDWR)

def get_size(h):
    return os.fstat(h).st_size

def can_flush(h):
    return True

def can_multi_conn(h):
    return True

def pread(h, buf, offset, flags):
    buf[:] = os.pread(h, len(buf), offset)

def pwrite(h, buf, offset, flags):
    os.pwrite(h, buf, offset)
    if flags & nbdkit.FLAG_FUA:
        flush(h, 0)

def flush(h, flags):
    if failfile and os.path.exists(failfile):
        nbdkit.set_error(errno.EIO)
        raise OSError(errno.EIO, "flush failed on purpose")
    os.fdatasync(h)

def close(h):
    os.close(h)
