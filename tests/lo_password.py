"""Save a document with a password through LibreOffice itself, for tests (run with the system python3,
which has python3-uno): ``python3 lo_password.py soffice profile_dir src dst filter password``.

A password-protected .doc cannot be made otherwise: ``soffice --convert-to`` takes no password
and msoffcrypto encrypts only .docx/.xlsx. The office is told to listen on a pipe and is asked
until it answers (a fresh profile makes the first start exit with 81: it is started again)."""
import subprocess
import sys
import time

import uno
from com.sun.star.beans import PropertyValue
from com.sun.star.connection import NoConnectException
from com.sun.star.lang import DisposedException


def prop(name, value):
    p = PropertyValue()
    p.Name, p.Value = name, value
    return p


soffice, profile, src, dst, filter_name, password = sys.argv[1:7]
pipe = f"pqencrypt{int(time.time() * 1000)}"
command = [soffice, "--headless", "--norestore", "--nologo", "--nodefault",
           f"-env:UserInstallation={uno.systemPathToFileUrl(profile)}", f"--accept=pipe,name={pipe};urp;"]
office = subprocess.Popen(command)
try:
    local = uno.getComponentContext()
    resolver = local.ServiceManager.createInstanceWithContext("com.sun.star.bridge.UnoUrlResolver", local)
    deadline = time.monotonic() + 60
    while True:
        try:
            remote = resolver.resolve(f"uno:pipe,name={pipe};urp;StarOffice.ComponentContext")
            break
        except NoConnectException:
            if office.poll() == 81:  # a fresh profile: LibreOffice asks to be started again
                office = subprocess.Popen(command)
            elif time.monotonic() > deadline or office.poll() is not None:
                raise
            time.sleep(0.1)
    desktop = remote.ServiceManager.createInstanceWithContext("com.sun.star.frame.Desktop", remote)
    doc = desktop.loadComponentFromURL(uno.systemPathToFileUrl(src), "_blank", 0, (prop("Hidden", True),))
    doc.storeToURL(uno.systemPathToFileUrl(dst), (prop("FilterName", filter_name), prop("Password", password)))
    doc.close(True)
    try:
        desktop.terminate()
    except DisposedException:  # the bridge goes down with the office
        office.wait(timeout=30)
finally:
    try:
        office.wait(timeout=30)
    except subprocess.TimeoutExpired:
        office.kill()
        office.wait()
