// Attachments: uploads with progress (XMLHttpRequest: fetch cannot report upload
// progress), and downloads through the session's token into object URLs (an <img> cannot
// send an Authorization header; in the cluster shape the content answers with a redirect
// to the object store, which fetch follows).
import { ApiError, bearer, type Attachment } from "./api/client";

export function upload(chatId: string, file: File, progress: (fraction: number) => void, signal?: AbortSignal): Promise<Attachment> {
  return new Promise((ok, fail) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", `/api/v1/chats/${chatId}/attachments`);
    for (const [name, value] of Object.entries(bearer())) xhr.setRequestHeader(name, value);
    xhr.upload.onprogress = (e) => e.lengthComputable && progress(e.loaded / e.total);
    xhr.onload = () => {
      let body: { code?: string; detail?: string } & Partial<Attachment> = {};
      try {
        body = JSON.parse(xhr.responseText);
      } catch {
        /* not JSON: handled below */
      }
      if (xhr.status === 201) ok(body as Attachment);
      else fail(new ApiError(xhr.status, body.code ?? `http_${xhr.status}`, body.detail ?? `The upload failed (${xhr.status}).`));
    };
    xhr.onerror = () => fail(new ApiError(0, "offline", "The server cannot be reached."));
    xhr.onabort = () => fail(new ApiError(0, "aborted", "The upload was cancelled."));
    signal?.addEventListener("abort", () => xhr.abort());
    const form = new FormData();
    form.append("file", file, file.name);
    xhr.send(form);
  });
}

const urls = new Map<string, Promise<string>>();

/** An object URL of an attachment's bytes or thumbnail (cached for the page's life). */
export function objectUrl(a: Attachment, what: "content" | "thumbnail"): Promise<string> {
  const key = `${a.id}/${what}`;
  let url = urls.get(key);
  if (!url) {
    url = fetchBlob(a, what).then((blob) => URL.createObjectURL(blob));
    url.catch(() => urls.delete(key));
    urls.set(key, url);
  }
  return url;
}

async function fetchBlob(a: Attachment, what: "content" | "thumbnail"): Promise<Blob> {
  // A thumbnail is made shortly after the image is sent: wait for it a little, then show
  // the image itself.
  for (let attempt = 0; ; attempt++) {
    const response = await fetch(`/api/v1/chats/${a.chat_id}/attachments/${a.id}/${what}`, { headers: bearer() });
    if (response.ok) return response.blob();
    if (what === "thumbnail" && response.status === 404 && attempt < 4) {
      await new Promise((r) => setTimeout(r, 500 * 2 ** attempt));
      continue;
    }
    if (what === "thumbnail") return fetchBlob(a, "content");
    throw new ApiError(response.status, `http_${response.status}`, `The file could not be loaded (${response.status}).`);
  }
}

/** Saves an attachment as a file. */
export async function download(a: Attachment): Promise<void> {
  const link = document.createElement("a");
  link.href = await objectUrl(a, "content");
  link.download = a.filename;
  link.click();
}

export function size(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}
