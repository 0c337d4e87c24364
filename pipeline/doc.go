// Package pipeline is the node's moving part: intake -> rules -> queue ->
// worker -> results (DESIGN.md §1, §7).
//
//   - Intake: three ways a study is announced, all ending as the same
//     StudyEvent in the JetStream stream MHPNET_EVENTS: a PACS-side bridge
//     publishing JSON on dicom.study.arrived (captured by the stream
//     directly), the HTTP webhook POST /v1/events/study (Webhook), and the
//     QIDO-RS poller (Poller).
//   - Router: one durable consumer of MHPNET_EVENTS lists the series of each
//     announced study (SeriesLister), applies the routing rules (package
//     pipeline/rules) and queues one Job per selected series on
//     seg.jobs.<priority> in the work-queue stream MHPNET_JOBS, with the
//     message id SeriesInstanceUID@ModelVersion so duplicate announcements
//     are dropped by the server.
//   - Worker: durable pull consumers (one per priority, shared by every
//     worker of every node) run each job: idempotency check (SEGFinder),
//     WADO-RS fetch (Fetcher), MHP-Net (Segmenter), SEG (Encoder), STOW-RS
//     (Storer), then a Result on seg.results.ok; InProgress heartbeats keep
//     a long job; failures are retried with growing NakWithDelay delays; the
//     last failure moves the job to the dead-letter stream MHPNET_DEAD with
//     its error and publishes seg.results.failed.
//   - Queue: job inspection for `node jobs list/show/retry`.
//
// The stages are small interfaces defined here, so the queue semantics are
// tested with in-test stages against a real embedded NATS server, and cmd/node
// wires the real dicomweb, dicom, segmentation and dicom/seg implementations.
//
// The package is one package split into files by concept (as nats-server's
// server/), because intake, router, queue and worker share the event, job
// and result types and the stream layout; only the rules, which do no I/O
// and are also compiled by package config, live in a subpackage.
package pipeline
