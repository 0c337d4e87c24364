# Dockerfile of the MHP-Net node: one static-ish binary with OpenBLAS.
#
#   docker build -t mhpnet/node .
#   docker run --rm -v $PWD/node.yaml:/etc/mhpnet/node.yaml mhpnet/node
#
# The MHP-Net model is embedded in the binary; the node keeps its queue
# (embedded NATS) under /var/lib/mhpnet unless nats.url points elsewhere.

FROM golang:1.26-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends libopenblas-dev libcharls-dev libopenjp2-7-dev pkg-config \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=0.1.0-dev
RUN CGO_ENABLED=1 go build -trimpath -ldflags "-s -w -X main.Version=${VERSION}" -o /out/node ./cmd/node

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends libopenblas0-pthread libcharls2 libopenjp2-7 ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --home /var/lib/mhpnet --create-home --uid 10001 mhpnet
COPY --from=build /out/node /usr/local/bin/node
COPY node.example.yaml /etc/mhpnet/node.yaml
# Two BLAS threads per job by default; raise with queue.concurrency in mind.
ENV OPENBLAS_NUM_THREADS=2 \
    MHPNET_NODE_DATA_DIR=/var/lib/mhpnet \
    MHPNET_HTTP_LISTEN=0.0.0.0:8080
USER mhpnet
VOLUME /var/lib/mhpnet
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s CMD ["/usr/local/bin/node", "version"]
ENTRYPOINT ["/usr/local/bin/node"]
CMD ["serve", "--config", "/etc/mhpnet/node.yaml"]
