# Midge in a container: a static binary on a distroless base, as a non-root
# user, with its data in a volume.
#   docker build -t midge .
#   docker run -p 1883:1883 -v midge-data:/data midge
# Without a configuration only clients on the container's own loopback get
# in; mount a midge.toml that sets password_file or allow_anonymous = true
# and add "--config /etc/midge.toml" to the docker run command line.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=devel
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /midge ./cmd/midge

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /midge /usr/local/bin/midge
VOLUME /data
EXPOSE 1883 8883 8083 8084
USER nonroot:nonroot
ENTRYPOINT ["/usr/local/bin/midge", "serve", "--data", "/data"]
