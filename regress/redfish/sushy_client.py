"""Drives vmediad's Redfish service with python3-sushy, as Ironic does.

sushy_client.py URL CA AUTH USER PASSWORD COMMAND [ARGS]
  AUTH: session or basic. CA: a file, or "system" for the system's store.
  list            one line per virtual media: Id Inserted ConnectedVia
                  MediaTypes WriteProtected ImageName
  show NAME       that line for one
  eject NAME      eject_media(), then the line again
  insert NAME URL insert_media(URL), then the line again
  session         the session's token length and its URI (session auth)
  verify NAME true|false
                  set_verify_certificate(), then VerifyCertificate again
  certs NAME      the Ids of its certificates, then each one's type
  addcert NAME FILE
                  certificates.create_member() of FILE's PEM: the new Id
  delcert NAME ID the certificate's delete(), then the Ids left
On an HTTP error: "error STATUS CODE" (the Base message's id).
"""
import sys

import sushy
from sushy import auth as sushy_auth
from sushy import exceptions


def line(vm):
    vm.refresh()
    types = ",".join(str(t.value if hasattr(t, "value") else t)
                     for t in vm.media_types)
    via = vm.connected_via
    via = via.value if hasattr(via, "value") else via
    return "%s %s %s %s %s %s" % (vm.identity, vm.inserted, via, types,
                                  vm.write_protected, vm.image_name)


def certs(vm):
    coll = vm.certificates
    coll.refresh()
    return " ".join("%s:%s" % (c.identity, c.certificate_type.value)
                    for c in coll.get_members())


def main():
    url, ca, how, user, password, cmd = sys.argv[1:7]
    args = sys.argv[7:]
    if how == "session":
        auth = sushy_auth.SessionAuth(username=user, password=password)
    else:
        auth = sushy_auth.BasicAuth(username=user, password=password)
    verify = True if ca == "system" else ca
    root = sushy.Sushy(url + "/redfish/v1", auth=auth, verify=verify)
    manager = root.get_manager_collection().get_members()[0]
    media = {vm.identity: vm for vm in
             manager.virtual_media.get_members()}
    try:
        if cmd == "list":
            for name in sorted(media):
                print(line(media[name]))
        elif cmd == "show":
            print(line(media[args[0]]))
        elif cmd == "eject":
            media[args[0]].eject_media()
            print(line(media[args[0]]))
        elif cmd == "insert":
            media[args[0]].insert_media(args[1])
            print(line(media[args[0]]))
        elif cmd == "verify":
            media[args[0]].set_verify_certificate(args[1] == "true")
            media[args[0]].refresh()
            print(media[args[0]].verify_certificate)
        elif cmd == "certs":
            print(certs(media[args[0]]))
        elif cmd == "addcert":
            with open(args[1]) as f:
                cert = media[args[0]].certificates.create_member(
                    f.read(), sushy.CertificateType.PEM)
            print(cert.identity, cert.certificate_type.value)
        elif cmd == "delcert":
            coll = media[args[0]].certificates
            coll.get_member(coll.path + "/" + args[1]).delete()
            media[args[0]].certificates.refresh()
            print(certs(media[args[0]]))
        elif cmd == "session":
            print(manager.identity, len(auth.get_session_key() or ""),
                  auth.get_session_resource_id())
            return 0
    except exceptions.HTTPError as e:
        print("error %s %s" % (e.status_code, e.code))
        return 3
    finally:
        auth.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
