//! The traffic model of the simulator: Daganzo's cell transmission model on a corridor, one cell
//! per road segment, with a triangular fundamental diagram (free-flow speed `v_f`, capacity `Q`
//! per lane, jam density `k_j` per lane, backward wave speed `w = Q / (k_j − Q / v_f)`).
//!
//! Each step moves `min(sending(i−1), receiving(i))` vehicles across every cell boundary:
//! `sending = min(v_f·k, Q)·lanes` and `receiving = min(Q, w·(k_j − k))·lanes`. A capacity
//! drop at a cell (an incident, a lane drop) lowers its sending flow, so vehicles pile up in it
//! and, once it is full, in the cells upstream: the queue spreads upstream at the backward
//! wave speed while the cells downstream empty. Demand above a lane drop's capacity makes the
//! same queue every rush hour without any incident. Entry demand the first cell cannot take
//! waits outside the corridor, so no vehicle is lost.

use super::scenario::Corridor;

#[derive(Debug, Clone)]
struct Cell {
    length_km: f64,
    lanes: f64,
    capacity_vphpl: f64,
    /// Share of capacity left (1 = normal; below 1 during an incident).
    capacity_factor: f64,
}

#[derive(Debug, Clone)]
pub struct Network {
    cells: Vec<Cell>,
    free_flow_kph: f64,
    jam_vpkpl: f64,
    wave_kph: f64,
    /// Vehicles in each cell.
    vehicles: Vec<f64>,
    /// Vehicles that left each cell during the last step, as a flow (veh/h).
    outflow_vph: Vec<f64>,
    /// Demand waiting to enter the first cell.
    entry_queue: f64,
}

impl Network {
    pub fn new(c: &Corridor) -> Self {
        let cells: Vec<Cell> = (1..=c.segments)
            .map(|i| Cell {
                length_km: c.length_m / 1000.0,
                lanes: f64::from(c.lanes_at(i)),
                capacity_vphpl: c.capacity_vphpl,
                capacity_factor: 1.0,
            })
            .collect();
        let critical = c.capacity_vphpl / c.free_flow_kph;
        Network {
            free_flow_kph: c.free_flow_kph,
            jam_vpkpl: c.jam_density_vpkpl,
            wave_kph: c.capacity_vphpl / (c.jam_density_vpkpl - critical),
            vehicles: vec![0.0; cells.len()],
            outflow_vph: vec![0.0; cells.len()],
            entry_queue: 0.0,
            cells,
        }
    }

    pub fn len(&self) -> usize {
        self.cells.len()
    }

    pub fn is_empty(&self) -> bool {
        self.cells.is_empty()
    }

    pub fn set_capacity_factor(&mut self, cell: usize, factor: f64) {
        if let Some(c) = self.cells.get_mut(cell) {
            c.capacity_factor = factor.clamp(0.0, 1.0);
        }
    }

    /// Density of a cell, vehicles per km per lane.
    pub fn density(&self, cell: usize) -> f64 {
        let c = &self.cells[cell];
        self.vehicles[cell] / (c.length_km * c.lanes)
    }

    /// Critical density (veh/km/lane): above it a cell is congested.
    pub fn critical_density(&self, cell: usize) -> f64 {
        self.cells[cell].capacity_vphpl / self.free_flow_kph
    }

    pub fn vehicles(&self, cell: usize) -> f64 {
        self.vehicles[cell]
    }

    pub fn outflow_vph(&self, cell: usize) -> f64 {
        self.outflow_vph[cell]
    }

    pub fn lanes(&self, cell: usize) -> f64 {
        self.cells[cell].lanes
    }

    /// Space-mean speed of a cell in the last step: what left it over how many were in it.
    pub fn speed_kph(&self, cell: usize) -> f64 {
        let per_km = self.vehicles[cell] / self.cells[cell].length_km;
        if per_km < 1e-6 {
            return self.free_flow_kph;
        }
        (self.outflow_vph[cell] / per_km).min(self.free_flow_kph)
    }

    fn sending_vph(&self, i: usize) -> f64 {
        let c = &self.cells[i];
        let free = self.free_flow_kph * self.density(i) * c.lanes;
        free.min(c.capacity_vphpl * c.lanes * c.capacity_factor)
    }

    fn receiving_vph(&self, i: usize) -> f64 {
        let c = &self.cells[i];
        let room = (self.wave_kph * (self.jam_vpkpl - self.density(i))).max(0.0);
        room.min(c.capacity_vphpl) * c.lanes
    }

    /// Advances the model by `dt_s` seconds with `demand_vph` arriving at the entry.
    pub fn step(&mut self, dt_s: f64, demand_vph: f64) {
        let dt_h = dt_s / 3600.0;
        let n = self.cells.len();
        self.entry_queue += demand_vph.max(0.0) * dt_h;
        // flows[i] = vehicles entering cell i; flows[n] = leaving the corridor.
        let mut flows = vec![0.0; n + 1];
        flows[0] = (self.entry_queue).min(self.receiving_vph(0) * dt_h);
        for (i, flow) in flows.iter_mut().enumerate().take(n).skip(1) {
            *flow = (self.sending_vph(i - 1).min(self.receiving_vph(i)) * dt_h)
                .min(self.vehicles[i - 1]);
        }
        flows[n] = (self.sending_vph(n - 1) * dt_h).min(self.vehicles[n - 1]);
        self.entry_queue -= flows[0];
        for i in 0..n {
            self.vehicles[i] += flows[i] - flows[i + 1];
            self.outflow_vph[i] = flows[i + 1] / dt_h;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::scenario::Scenario;

    fn corridor(demand: f64) -> Corridor {
        let text = format!(
            "seed = 1\n[[corridor]]\nid = \"A\"\nsegments = 10\nlength_m = 500\nlanes = 2\n\
             demand_vph = {demand}\nprofile = [{{ at = \"00:00\", factor = 1.0 }}]\n"
        );
        Scenario::parse(&text).unwrap().corridors.remove(0)
    }

    fn run(net: &mut Network, seconds: u32, demand: f64) {
        for _ in 0..seconds / 5 {
            net.step(5.0, demand);
        }
    }

    #[test]
    fn light_demand_flows_freely_and_conserves_vehicles() {
        let mut net = Network::new(&corridor(2000.0));
        run(&mut net, 1800, 2000.0);
        for i in 0..10 {
            assert!((net.speed_kph(i) - 100.0).abs() < 1e-6);
            // 2000 veh/h over 2 lanes at 100 km/h: 10 veh/km/lane.
            assert!((net.density(i) - 10.0).abs() < 0.01, "{}", net.density(i));
        }
        assert!((net.outflow_vph(9) - 2000.0).abs() < 1.0);
    }

    #[test]
    fn an_incident_queue_spreads_upstream_and_starves_downstream() {
        let mut net = Network::new(&corridor(3200.0));
        run(&mut net, 1800, 3200.0);
        net.set_capacity_factor(6, 0.3);
        run(&mut net, 120, 3200.0);
        assert!(
            net.speed_kph(6) < 40.0,
            "incident cell {}",
            net.speed_kph(6)
        );
        assert!(net.speed_kph(3) > 95.0, "not yet upstream");
        run(&mut net, 600, 3200.0);
        assert!(net.speed_kph(4) < 40.0, "queue reached upstream");
        assert!(
            net.density(7) < 8.0,
            "downstream starved: {}",
            net.density(7)
        );
        // Capacity restored: the queue discharges.
        net.set_capacity_factor(6, 1.0);
        run(&mut net, 3600, 3200.0);
        assert!(net.speed_kph(4) > 95.0 && net.speed_kph(6) > 95.0);
    }
}
