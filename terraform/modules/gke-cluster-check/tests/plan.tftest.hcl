# The existing-cluster checks, on literal cluster shapes (no provider needed).

variables {
  project_id    = "my-project-123"
  location      = "europe-west1"
  cluster_name  = "apps"
  workload_pool = "my-project-123.svc.id.goog"
  autopilot     = false
  node_pools    = [{ name = "workloads", workload_metadata_mode = "GKE_METADATA" }]
}

run "ready_cluster_passes" {
  command = plan

  assert {
    condition     = output.workload_pool == "my-project-123.svc.id.goog" && output.metadata_node_pools == ["workloads"]
    error_message = "Unexpected result: ${output.workload_pool}"
  }
}

run "one_metadata_pool_among_others_is_enough" {
  command = plan

  variables {
    node_pools = [
      { name = "gpu", workload_metadata_mode = "GCE_METADATA" },
      { name = "workloads", workload_metadata_mode = "GKE_METADATA" },
      { name = "legacy", workload_metadata_mode = "" },
    ]
  }

  assert {
    condition     = output.metadata_node_pools == ["workloads"]
    error_message = "Unexpected metadata pools: ${jsonencode(output.metadata_node_pools)}"
  }
}

run "autopilot_has_no_pools_to_check" {
  command = plan

  variables {
    autopilot  = true
    node_pools = []
  }

  assert {
    condition     = output.workload_pool == "my-project-123.svc.id.goog"
    error_message = "Autopilot must pass."
  }
}

run "rejects_cluster_without_a_metadata_pool" {
  command = plan
  variables {
    node_pools = [
      { name = "gpu", workload_metadata_mode = "GCE_METADATA" },
      { name = "legacy", workload_metadata_mode = "" },
    ]
  }
  expect_failures = [output.workload_pool]
}

run "rejects_standard_cluster_without_pools" {
  command = plan
  variables { node_pools = [] }
  expect_failures = [output.workload_pool]
}

run "rejects_cluster_without_workload_identity" {
  command = plan
  variables { workload_pool = null }
  expect_failures = [output.workload_pool]
}

run "rejects_pool_of_another_project" {
  command = plan
  variables { workload_pool = "other-project.svc.id.goog" }
  expect_failures = [output.workload_pool]
}
