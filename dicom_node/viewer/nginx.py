"""The configuration files of the viewer's nginx and Orthanc (rendered per start, ports included)."""

from __future__ import annotations

import json
from pathlib import Path

NGINX_TEMPLATE = """# written by dicom-node viewer: OHIF site + DICOMweb proxy to Orthanc, loopback only
{user_line}
worker_processes 1;
daemon off;
pid "{run}/nginx.pid";
error_log "{logs}/nginx-error.log" warn;
events {{ worker_connections 256; }}
http {{
  include "{mime_types}";
  access_log "{logs}/nginx-access.log";
  client_body_temp_path "{run}/body";
  proxy_temp_path "{run}/proxy";
  fastcgi_temp_path "{run}/fastcgi";
  uwsgi_temp_path "{run}/uwsgi";
  scgi_temp_path "{run}/scgi";
  client_max_body_size 2g;
  server {{
    listen 127.0.0.1:{http_port};
    server_name localhost;
    root "{dist}";
    # cross-origin isolation: SharedArrayBuffer for Cornerstone3D's workers
    add_header Cross-Origin-Opener-Policy same-origin always;
    add_header Cross-Origin-Embedder-Policy require-corp always;
    add_header Cross-Origin-Resource-Policy same-origin always;
    location = /app-config.js {{
      alias "{app_config}";
    }}
    # Orthanc's DICOMweb plugin 1.7 ignores OHIF's comma-separated includefield list: the study list
    # would show no description. Ask for those fields one by one.
    location = /dicom-web/studies {{
      proxy_pass http://127.0.0.1:{orthanc_port}/dicom-web/studies?$args&includefield=00081030&includefield=00080061&includefield=00080090&includefield=00100030;
      proxy_set_header Host $host:$server_port;
    }}
    location /dicom-web/ {{
      proxy_pass http://127.0.0.1:{orthanc_port}/dicom-web/;
      proxy_set_header Host $host:$server_port;
      proxy_buffering off;
    }}
    location /wado {{
      proxy_pass http://127.0.0.1:{orthanc_port}/wado;
    }}
    # OHIF is a single-page app: /viewer, /segmentation, ... are index.html
    location / {{
      try_files $uri $uri/ /index.html;
    }}
  }}
}}
"""


def nginx_conf(
    *,
    dist: Path,
    app_config: Path,
    run: Path,
    logs: Path,
    mime_types: Path,
    http_port: int,
    orthanc_port: int,
    user_line: str,
) -> str:
    return NGINX_TEMPLATE.format(
        dist=dist,
        app_config=app_config,
        run=run,
        logs=logs,
        mime_types=mime_types,
        http_port=http_port,
        orthanc_port=orthanc_port,
        user_line=user_line,
    )


def orthanc_conf(*, storage: Path, plugin: Path, http_port: int, dicom_port: int | None) -> str:
    """Orthanc with DICOMweb; REST refused to non-loopback clients; DICOM server only when asked."""
    config = {
        "Name": "dicom-node-viewer",
        "StorageDirectory": str(storage),
        "IndexDirectory": str(storage),
        "Plugins": [str(plugin)],
        "HttpServerEnabled": True,
        "HttpPort": http_port,
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": False,
        "OrthancExplorerEnabled": True,
        "DicomServerEnabled": dicom_port is not None,
        "DicomAet": "OHIF_PACS",
        "DicomPort": dicom_port or 4242,
        "DicomCheckCalledAet": False,
        "DicomAlwaysAllowStore": True,
        "UnknownSopClassAccepted": True,
        "HttpCompressionEnabled": False,
        "OverwriteInstances": True,
        "StableAge": 1,
        "DicomWeb": {
            "Enable": True,
            "Root": "/dicom-web/",
            "EnableWado": True,
            "WadoRoot": "/wado",
            "Ssl": False,
            "StudiesMetadata": "Full",
            "SeriesMetadata": "Full",
        },
    }
    return json.dumps(config, indent=2)
